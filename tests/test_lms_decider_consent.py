"""LmsDecider passes the local list's guardian's consent to the eligibility rules: a minor
the LMS accepts enters (with rules that let minors in with consent) only when the local entry
says a guardian consented; no local entry is no consent."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from controller.domain.decision import Reason
from controller.domain.eligibility import EligibilityRules, LmsPatron
from controller.domain.members import Category, Member
from controller.domain.modes import DoorMode
from controller.services.lms import LmsAnswer, LmsQuestion
from controller.services.lms_access import LmsDecider
from controller.services.offline_policy import DecidedBy

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 19, 30, tzinfo=UTC)
CARD = "29990000000001"


class NoCache:
    """The PIN cache's part LmsDecider calls on an LMS answer (remember/forget), recorded."""

    def __init__(self) -> None:
        self.remembered: list[str] = []

    def check(self, card: str, pin: str, now: datetime) -> bool | None:
        return None

    def remember(self, card: str, pin: str, now: datetime) -> None:
        self.remembered.append(card)

    def forget(self, card: str) -> None:
        pass


def local_entry(consent: bool) -> Member:
    return Member(
        id=1,
        patron_id="P1",
        display_name="M.",
        cards=(CARD,),
        adult_on=date(2028, 6, 1),
        valid_until=date(2030, 1, 1),
        openplus_registered_on=date(2025, 1, 1),
        entry_blocked=False,
        blocked_until=None,
        category=Category.MEMBER,
        guardian_consent=consent,
    )


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (local_entry(consent=True), Reason.GRANTED),
        (local_entry(consent=False), Reason.NO_GUARDIAN_CONSENT),
        (None, Reason.NO_GUARDIAN_CONSENT),
    ],
)
def test_a_sixteen_year_old_enters_only_with_consent_on_the_local_list(local, expected):
    cache = NoCache()
    decider = LmsDecider(
        EligibilityRules(min_age=15, open_plus_classes=frozenset({"OPEN"})),
        "deny",
        cache,
        lambda member, pin: False,
    )
    question = LmsQuestion(
        attempt=1, card=CARD, pin="1234", reader="r", mode=DoorMode.OPENPLUS, asked_at=NOW, local=local
    )
    patron = LmsPatron(
        valid_patron=True, valid_pin=True, birth_date=date(2010, 6, 1), patron_class="OPEN"
    )  # 16 today
    verdict = decider.decide(question, LmsAnswer(1, patron), TODAY, NOW)
    assert (verdict.reason, verdict.decided_by) == (expected, DecidedBy.LMS)
    assert cache.remembered == ([CARD] if expected is Reason.GRANTED else [])
