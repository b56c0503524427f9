"""Who the library system lets in: a branch's eligibility rules applied to one LMS answer.

The library management system (LMS) is the source of truth when the branch links to it: it
checks the card and the member's own PIN (which it never exports) and says what it knows
about the patron. This module turns that answer plus the branch's rules and the local list's
entry (which may add "registered for Open+" and a guardian's consent) into exactly one
reason, in the same spirit and order as `decide`: first the card and PIN (so a found card
reveals nothing without its PIN), then the patron's own status.

Pure and clock-free: the caller passes today's local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from controller.domain.decision import Reason
from controller.domain.members import ADULT_AGE, NEVER, Member

STATUS_POSITIONS = 14  # SIP2's patron-status field: 14 Y/N flags
CARD_LOST_POSITION = 4  # "card reported lost"
MIN_AGE_RANGE = (13, 21)  # what a branch may choose as its minimum age


@dataclass(frozen=True)
class LmsPatron:
    """What the LMS answered about one card and PIN, reduced to what the rules read.

    `valid_patron`/`valid_pin` are SIP2's BL and CQ: None when the field was missing or
    empty, which is never taken as yes. No name or address: the door stores the minimum."""

    valid_patron: bool | None
    valid_pin: bool | None
    status: tuple[bool, ...] = (False,) * STATUS_POSITIONS
    birth_date: date | None = None
    patron_class: str | None = None
    expires_on: date | None = None


@dataclass(frozen=True)
class EligibilityRules:
    """A branch's rules for LMS patrons; the defaults admit adults the LMS marks registered.

    `open_plus_classes`: patron classes (SIP2 PC) that mean "registered for Open+"; empty
    means the LMS has no such field and the local list's registration decides.
    `barring_positions`: the patron-status positions (0-13) that keep a patron out; a
    borrowing block alone (position 0, charge privileges denied) does not by default.
    `minors_need_consent`: under 18 (but at least `min_age`) only with a guardian's consent
    noted in the local list."""

    min_age: int = ADULT_AGE
    open_plus_classes: frozenset[str] = frozenset()
    barring_positions: frozenset[int] = frozenset()
    card_lost_bars: bool = True
    check_expiry: bool = True
    minors_need_consent: bool = True

    def __post_init__(self) -> None:
        low, high = MIN_AGE_RANGE
        if not low <= self.min_age <= high:
            raise ValueError(f"min_age {self.min_age} is outside {low}-{high}")
        wrong = sorted(p for p in self.barring_positions if not 0 <= p < STATUS_POSITIONS)
        if wrong:
            raise ValueError(f"barring position(s) {wrong} outside 0-{STATUS_POSITIONS - 1}")


def age_on(birth_date: date, day: date) -> int:
    """Whole years from `birth_date` to `day` (a 29 February birthday counts on 1 March)."""
    years = day.year - birth_date.year
    return years - 1 if (day.month, day.day) < (birth_date.month, birth_date.day) else years


def local_birth_date(member: Member) -> date | None:
    """The birth date the local list implies: it keeps only the 18th birthday (`adult_on`)."""
    if member.adult_on == NEVER:
        return None
    try:
        return member.adult_on.replace(year=member.adult_on.year - ADULT_AGE)
    except ValueError:  # adult_on 1 March from a 29 February birth date: close enough
        return member.adult_on.replace(year=member.adult_on.year - ADULT_AGE, day=28)


def judge(
    patron: LmsPatron,
    local: Member | None,
    rules: EligibilityRules,
    today: date,
    *,
    guardian_consent: bool = False,
) -> Reason:
    """GRANTED or the one reason to refuse; admits only when BL=Y and CQ=Y.

    `local`: the card's entry in the local list, if any (registration, birth date when the
    LMS sends none, an entry block a manager set, a guardian's consent)."""
    if patron.valid_patron is not True:
        return Reason.UNKNOWN_CARD
    if patron.valid_pin is False:
        return Reason.WRONG_PIN
    if patron.valid_pin is None:
        return Reason.LMS_REFUSED  # the LMS did not confirm the PIN: never a yes
    if rules.card_lost_bars and _flag(patron, CARD_LOST_POSITION):
        return Reason.CARD_LOST
    if local is not None and local.is_blocked_on(today):
        return Reason.BLOCKED
    if any(_flag(patron, position) for position in rules.barring_positions):
        return Reason.LMS_REFUSED
    if rules.check_expiry and patron.expires_on is not None and patron.expires_on < today:
        return Reason.EXPIRED
    if not _registered(patron, local, rules, today):
        return Reason.NOT_REGISTERED
    return _age_reason(patron, local, rules, today, guardian_consent)


def _flag(patron: LmsPatron, position: int) -> bool:
    return position < len(patron.status) and patron.status[position]


def _registered(patron: LmsPatron, local: Member | None, rules: EligibilityRules, today: date) -> bool:
    if rules.open_plus_classes and patron.patron_class in rules.open_plus_classes:
        return True
    return local is not None and local.is_registered_on(today)


def _age_reason(
    patron: LmsPatron, local: Member | None, rules: EligibilityRules, today: date, guardian_consent: bool
) -> Reason:
    born = patron.birth_date or (local_birth_date(local) if local is not None else None)
    too_young = Reason.UNDER_18 if rules.min_age == ADULT_AGE else Reason.UNDER_AGE
    if born is None:
        return too_young  # no birth date anywhere: not shown to be old enough
    if age_on(born, today) < rules.min_age:
        return too_young
    age = age_on(born, today)
    if age < ADULT_AGE and rules.minors_need_consent and not guardian_consent:
        return Reason.NO_GUARDIAN_CONSENT
    return Reason.GRANTED
