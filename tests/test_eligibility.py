"""A branch's eligibility rules applied to what the library system answered (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from controller.domain.decision import Reason
from controller.domain.eligibility import (
    CARD_LOST_POSITION,
    EligibilityRules,
    LmsPatron,
    age_on,
    judge,
    local_birth_date,
)
from controller.domain.members import NEVER, Category, Member, adult_on

TODAY = date(2026, 12, 1)
ADULT = date(1980, 5, 17)


def patron(**changes) -> LmsPatron:
    """An adult in good standing whose card and PIN the LMS confirmed."""
    return replace(
        LmsPatron(valid_patron=True, valid_pin=True, birth_date=ADULT, patron_class="OPENPLUS"), **changes
    )


def flags(*positions: int) -> tuple[bool, ...]:
    return tuple(i in positions for i in range(14))


def local(**changes) -> Member:
    member = Member(
        id=1,
        patron_id="P1",
        display_name="Demo",
        cards=("29990000000001",),
        adult_on=adult_on(ADULT),
        valid_until=date(2030, 1, 1),
        openplus_registered_on=date(2020, 1, 1),
        entry_blocked=False,
        blocked_until=None,
        category=Category.MEMBER,
    )
    return replace(member, **changes)


RULES = EligibilityRules(open_plus_classes=frozenset({"OPENPLUS"}))


def test_a_confirmed_adult_of_an_open_plus_class_is_granted():
    assert judge(patron(), None, RULES, TODAY) is Reason.GRANTED


@pytest.mark.parametrize(
    ("valid_patron", "valid_pin", "reason"),
    [
        (False, None, Reason.UNKNOWN_CARD),  # BL=N with CQ missing or empty
        (None, None, Reason.UNKNOWN_CARD),  # BL missing altogether
        (False, True, Reason.UNKNOWN_CARD),  # a CQ=Y never rescues an unknown barcode
        (True, False, Reason.WRONG_PIN),
        (True, None, Reason.LMS_REFUSED),  # CQ empty for a known patron: not a yes
    ],
)
def test_only_bl_yes_and_cq_yes_pass_the_card_and_pin(valid_patron, valid_pin, reason):
    assert judge(patron(valid_patron=valid_patron, valid_pin=valid_pin), None, RULES, TODAY) is reason


def test_a_card_reported_lost_is_refused_with_its_own_reason():
    assert judge(patron(status=flags(CARD_LOST_POSITION)), None, RULES, TODAY) is Reason.CARD_LOST
    lenient = replace(RULES, card_lost_bars=False)
    assert judge(patron(status=flags(CARD_LOST_POSITION)), None, lenient, TODAY) is Reason.GRANTED


def test_a_borrowing_block_alone_does_not_bar_entry_but_a_configured_position_does():
    assert judge(patron(status=flags(0, 2)), None, RULES, TODAY) is Reason.GRANTED
    strict = replace(RULES, barring_positions=frozenset({2}))
    assert judge(patron(status=flags(2)), None, strict, TODAY) is Reason.LMS_REFUSED
    assert judge(patron(status=flags(0)), None, strict, TODAY) is Reason.GRANTED


def test_an_expiry_date_in_the_past_refuses_when_the_lms_sends_one():
    assert judge(patron(expires_on=date(2026, 11, 30)), None, RULES, TODAY) is Reason.EXPIRED
    assert judge(patron(expires_on=TODAY), None, RULES, TODAY) is Reason.GRANTED
    ignoring = replace(RULES, check_expiry=False)
    assert judge(patron(expires_on=date(2020, 1, 1)), None, ignoring, TODAY) is Reason.GRANTED


def test_registration_comes_from_the_patron_class_or_else_the_local_list():
    other_class = patron(patron_class="ADULT")
    assert judge(other_class, None, RULES, TODAY) is Reason.NOT_REGISTERED
    assert judge(other_class, local(), RULES, TODAY) is Reason.GRANTED
    assert judge(other_class, local(openplus_registered_on=None), RULES, TODAY) is Reason.NOT_REGISTERED
    no_field = EligibilityRules()  # the LMS has no Open+ field: only the local list says
    assert judge(patron(), None, no_field, TODAY) is Reason.NOT_REGISTERED


def test_an_entry_block_set_locally_holds_whatever_the_lms_says():
    blocked = local(entry_blocked=True, blocked_until=date(2026, 12, 24))
    assert judge(patron(), blocked, RULES, TODAY) is Reason.BLOCKED
    assert judge(patron(), blocked, RULES, date(2026, 12, 25)) is Reason.GRANTED


def test_the_minimum_age_reads_the_lms_birth_date_first_then_the_local_list():
    sixteen = date(2010, 6, 1)
    rules16 = replace(RULES, min_age=16, minors_need_consent=False)
    assert judge(patron(birth_date=sixteen), None, RULES, TODAY) is Reason.UNDER_18
    assert judge(patron(birth_date=sixteen), None, rules16, TODAY) is Reason.GRANTED
    # no PB: the local list's 18th birthday stands in
    assert judge(patron(birth_date=None), local(adult_on=adult_on(sixteen)), rules16, TODAY) is Reason.GRANTED
    assert judge(patron(birth_date=None), local(adult_on=NEVER), rules16, TODAY) is Reason.UNDER_AGE
    assert judge(patron(birth_date=None), None, rules16, TODAY) is Reason.UNDER_AGE
    assert judge(patron(birth_date=date(2012, 1, 1)), None, rules16, TODAY) is Reason.UNDER_AGE


def test_a_minor_needs_a_guardians_consent_when_the_branch_says_so():
    rules = replace(RULES, min_age=15)
    minor = patron(birth_date=date(2010, 6, 1))
    assert judge(minor, None, rules, TODAY) is Reason.NO_GUARDIAN_CONSENT
    assert judge(minor, None, rules, TODAY, guardian_consent=True) is Reason.GRANTED


def test_pin_before_status_so_a_found_card_reveals_nothing():
    lost_and_wrong = patron(valid_pin=False, status=flags(CARD_LOST_POSITION), expires_on=date(2000, 1, 1))
    assert judge(lost_and_wrong, None, RULES, TODAY) is Reason.WRONG_PIN


@pytest.mark.parametrize("min_age", [12, 22])
def test_a_minimum_age_outside_13_to_21_is_refused_with_its_value(min_age):
    with pytest.raises(ValueError, match=f"min_age {min_age}"):
        EligibilityRules(min_age=min_age)


def test_a_barring_position_outside_the_14_flags_is_refused():
    with pytest.raises(ValueError, match=r"\[14\]"):
        EligibilityRules(barring_positions=frozenset({14}))


def test_age_and_birth_date_arithmetic_on_the_edges():
    assert age_on(date(2008, 12, 1), TODAY) == 18
    assert age_on(date(2008, 12, 2), TODAY) == 17
    assert local_birth_date(local(adult_on=adult_on(date(2004, 2, 29)))) in (
        date(2004, 2, 28),
        date(2004, 3, 1),
    )
    assert local_birth_date(local(adult_on=NEVER)) is None


def test_every_lms_only_reason_is_reachable_from_judge_or_the_offline_policy():
    from controller.services.offline_policy import offline_decision
    from tests.test_decision import LMS_ONLY

    reached = {
        judge(patron(birth_date=date(2012, 1, 1)), None, replace(RULES, min_age=16), TODAY),
        judge(patron(birth_date=date(2010, 6, 1)), None, replace(RULES, min_age=15), TODAY),
        judge(patron(status=flags(CARD_LOST_POSITION)), None, RULES, TODAY),
        judge(patron(valid_pin=None), None, RULES, TODAY),
        offline_decision("deny", None, None, TODAY, local_pin_matches=None),
    }
    assert reached == LMS_ONLY
