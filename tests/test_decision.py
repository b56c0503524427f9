"""The pure access decision: every reason code, its order, staff cards and DST days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from controller.domain.clock import BRANCH_TZ
from controller.domain.decision import PIN_PROVEN, Reason, decide
from controller.domain.members import NEVER, Category, Member
from controller.domain.modes import DoorMode

NOW = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)
TODAY = date(2026, 11, 25)

OK_MEMBER = Member(
    id=1,
    patron_id="P1",
    display_name="A.B.",
    cards=("29990000000001",),
    adult_on=date(2000, 1, 1),
    valid_until=date(2027, 1, 1),
    openplus_registered_on=date(2026, 1, 1),
    entry_blocked=False,
    blocked_until=None,
    category=Category.MEMBER,
    pin_hash=b"x",
)


def pin_is_1234(member: Member, pin: str) -> bool:
    return pin == "1234"


def run(member, pin="1234", mode=DoorMode.OPENPLUS, now=NOW, **kw):
    return decide(member, pin, mode, now, pin_matches=pin_is_1234, **kw)


CASES = [
    (OK_MEMBER, "1234", DoorMode.OPENPLUS, Reason.GRANTED),
    (OK_MEMBER, "1234", DoorMode.STAFFED, Reason.GRANTED),
    (None, "1234", DoorMode.OPENPLUS, Reason.UNKNOWN_CARD),
    (replace(OK_MEMBER, openplus_registered_on=None), "1234", DoorMode.OPENPLUS, Reason.NOT_REGISTERED),
    (
        replace(OK_MEMBER, openplus_registered_on=TODAY + timedelta(days=1)),
        "1234",
        DoorMode.OPENPLUS,
        Reason.NOT_REGISTERED,
    ),
    (replace(OK_MEMBER, adult_on=NEVER), "1234", DoorMode.OPENPLUS, Reason.UNDER_18),
    (replace(OK_MEMBER, adult_on=TODAY + timedelta(days=1)), "1234", DoorMode.OPENPLUS, Reason.UNDER_18),
    (replace(OK_MEMBER, entry_blocked=True), "1234", DoorMode.OPENPLUS, Reason.BLOCKED),
    (replace(OK_MEMBER, entry_blocked=True, blocked_until=TODAY), "1234", DoorMode.OPENPLUS, Reason.BLOCKED),
    (replace(OK_MEMBER, valid_until=TODAY - timedelta(days=1)), "1234", DoorMode.OPENPLUS, Reason.EXPIRED),
    (OK_MEMBER, "9999", DoorMode.OPENPLUS, Reason.WRONG_PIN),
    (OK_MEMBER, "", DoorMode.OPENPLUS, Reason.WRONG_PIN),
    (
        replace(OK_MEMBER, locked_until=NOW + timedelta(minutes=1)),
        "1234",
        DoorMode.OPENPLUS,
        Reason.CARD_LOCKED,
    ),
    (OK_MEMBER, "1234", DoorMode.CLOSED, Reason.OUTSIDE_HOURS),
    (OK_MEMBER, "1234", DoorMode.CLOSURE, Reason.BRANCH_CLOSED),
]


@pytest.mark.parametrize(
    ("member", "pin", "mode", "reason"),
    CASES,
    ids=lambda v: v.value if isinstance(v, (Reason, DoorMode)) else None,
)
def test_each_reason(member, pin, mode, reason):
    decision = run(member, pin, mode)
    assert decision.reason is reason
    assert decision.granted is (reason is Reason.GRANTED)


# Reasons only the library system's answer (domain/eligibility.judge, tests/test_eligibility.py)
# or its silence (services/offline_policy, tests/test_offline_policy.py) can give.
LMS_ONLY = {
    Reason.UNDER_AGE,
    Reason.NO_GUARDIAN_CONSENT,
    Reason.CARD_LOST,
    Reason.LMS_REFUSED,
    Reason.LMS_UNAVAILABLE,
}


def test_every_reason_code_but_the_throttle_is_reachable_from_decide():
    # The parametrised cases above must cover the whole enum; the reader throttle is the
    # authorizer's (tested there).
    covered = {case[3] for case in CASES}
    assert covered == set(Reason) - {Reason.READER_SLOWED} - LMS_ONLY


def test_block_ends_after_its_last_day_and_valid_until_is_inclusive():
    member = replace(
        OK_MEMBER, entry_blocked=True, blocked_until=TODAY - timedelta(days=1), valid_until=TODAY
    )
    assert run(member).granted


def test_lockout_ends_at_its_time():
    member = replace(OK_MEMBER, locked_until=NOW)
    assert run(member).granted


def test_pin_is_checked_before_the_member_status_is_revealed():
    blocked = replace(OK_MEMBER, entry_blocked=True, valid_until=TODAY - timedelta(days=9))
    assert run(blocked, pin="0000").reason is Reason.WRONG_PIN


def test_closed_mode_refuses_before_looking_at_the_card():
    assert run(None, mode=DoorMode.CLOSED).reason is Reason.OUTSIDE_HOURS


def test_staff_card_skips_registration_and_age_but_not_pin_or_block():
    staff = replace(OK_MEMBER, category=Category.STAFF, openplus_registered_on=None, adult_on=NEVER)
    assert run(staff).granted
    assert run(staff, pin="0000").reason is Reason.WRONG_PIN
    assert run(replace(staff, entry_blocked=True)).reason is Reason.BLOCKED


def test_staff_card_refused_when_closed_unless_configured():
    staff = replace(OK_MEMBER, category=Category.STAFF)
    assert run(staff, mode=DoorMode.CLOSED).reason is Reason.OUTSIDE_HOURS
    assert run(staff, mode=DoorMode.CLOSURE).reason is Reason.BRANCH_CLOSED
    assert run(staff, mode=DoorMode.CLOSED, staff_allowed_when_closed=True).granted
    assert run(staff, mode=DoorMode.CLOSURE, staff_allowed_when_closed=True).granted
    # ...and the setting lets no ordinary member in.
    assert not run(OK_MEMBER, mode=DoorMode.CLOSED, staff_allowed_when_closed=True).granted


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="naive"):
        run(OK_MEMBER, now=datetime(2026, 11, 25, 20, 30))


@pytest.mark.parametrize(
    ("utc", "local_day"),
    [
        # Last Sunday of March 2026: 02:00 CET jumps to 03:00 CEST.
        (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), date(2026, 3, 28)),  # 23:59 CET
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), date(2026, 3, 29)),  # 00:00 CET
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), date(2026, 3, 29)),  # 23:59 CEST
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), date(2026, 3, 30)),  # 00:00 CEST
        # Last Sunday of October 2026: 03:00 CEST falls back to 02:00 CET.
        (datetime(2026, 10, 24, 21, 59, tzinfo=UTC), date(2026, 10, 24)),
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), date(2026, 10, 25)),  # 00:00 CEST
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), date(2026, 10, 25)),  # 23:59 CET
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), date(2026, 10, 26)),
    ],
)
def test_dates_are_branch_dates_on_dst_days(utc, local_day):
    """A card valid until a day works until local midnight, whatever the UTC offset that day."""
    member = replace(OK_MEMBER, valid_until=local_day)
    assert run(member, now=utc).granted
    # 25 hours on is the next branch date even on the 25-hour October day.
    assert run(member, now=utc + timedelta(hours=25)).reason is Reason.EXPIRED
    # The 18th birthday counts from local midnight too.
    assert run(replace(OK_MEMBER, adult_on=local_day), now=utc).granted
    assert run(replace(OK_MEMBER, adult_on=local_day + timedelta(days=1)), now=utc).reason is Reason.UNDER_18


def test_october_fold_hour_is_one_local_date():
    """Both 02:30s on 2026-10-25 are the same branch date."""
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert first.astimezone(BRANCH_TZ).hour == second.astimezone(BRANCH_TZ).hour == 2
    member = replace(OK_MEMBER, valid_until=date(2026, 10, 25))
    assert run(member, now=first).granted and run(member, now=second).granted


@pytest.mark.parametrize(
    ("member", "pin", "mode", "reason"),
    CASES,
    ids=lambda v: v.value if isinstance(v, (Reason, DoorMode)) else None,
)
def test_pin_proven_names_exactly_the_decisions_after_a_right_pin(member, pin, mode, reason):
    # The authorizer ends a run of PIN lockouts on these, so none may come without a right PIN.
    answers = []

    def checked(who: Member, typed: str) -> bool:
        answers.append(pin_is_1234(who, typed))
        return answers[-1]

    decision = decide(member, pin, mode, NOW, pin_matches=checked)
    assert (decision.reason in PIN_PROVEN) is (answers == [True])
