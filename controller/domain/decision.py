"""The access decision: a pure function of (member, presented PIN, door mode, time).

Order matters and is part of the contract: the mode first (nobody is asked about a card at
night), then the card, a lockout, the PIN (so a found card reveals nothing about its owner
without the PIN), and only then the member's own status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from controller.domain.clock import BRANCH_TZ, local_date, require_aware
from controller.domain.members import Category, Member
from controller.domain.modes import DoorMode


class Reason(StrEnum):
    """Why the door opened or stayed shut; one per decision, stored in the event log."""

    GRANTED = "granted"
    UNKNOWN_CARD = "unknown_card"
    NOT_REGISTERED = "not_registered"
    UNDER_18 = "under_18"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    WRONG_PIN = "wrong_pin"
    CARD_LOCKED = "card_locked"
    OUTSIDE_HOURS = "outside_hours"
    BRANCH_CLOSED = "branch_closed"
    READER_SLOWED = "reader_slowed"  # anti card-cycling: too many failures at this door's readers
    # From the library system's answer (domain/eligibility.py) or its silence:
    UNDER_AGE = "under_age"  # below the branch's minimum age when that is not 18
    NO_GUARDIAN_CONSENT = "no_guardian_consent"  # a minor without a guardian's consent on file
    CARD_LOST = "card_lost"  # the library system says the card was reported lost
    LMS_REFUSED = "lms_refused"  # the library system bars entry (a status position, no PIN check)
    LMS_UNAVAILABLE = "lms_unavailable"  # no answer in time, and the offline policy says no


@dataclass(frozen=True)
class Decision:
    granted: bool
    reason: Reason
    # A grant to a member with "more time" (the local list's flag): the door unlocks longer
    # and lets the door stand open longer. Carried here so the door never reads the database.
    more_time: bool = False

    @classmethod
    def refuse(cls, reason: Reason) -> Decision:
        return cls(False, reason)


GRANT = Decision(True, Reason.GRANTED)
# Decided after a right PIN (see the order above): whoever typed it knows the PIN, so a run of
# wrong PINs and of lockouts ends, even when the member is refused for their own status.
PIN_PROVEN = frozenset(
    {
        Reason.GRANTED,
        Reason.BLOCKED,
        Reason.EXPIRED,
        Reason.NOT_REGISTERED,
        Reason.UNDER_18,
        Reason.UNDER_AGE,
        Reason.NO_GUARDIAN_CONSENT,
        Reason.CARD_LOST,
        Reason.LMS_REFUSED,
    }
)
PinCheck = Callable[[Member, str], bool]


def decide(
    member: Member | None,
    pin: str,
    mode: DoorMode,
    now: datetime,
    *,
    pin_matches: PinCheck,
    staff_allowed_when_closed: bool = False,
    tz: ZoneInfo = BRANCH_TZ,
) -> Decision:
    """Grant or refuse with exactly one reason; `pin_matches` checks the keyed PIN hash."""
    require_aware(now)
    is_staff = member is not None and member.category is Category.STAFF
    if mode.is_closed and not (is_staff and staff_allowed_when_closed):
        return Decision.refuse(Reason.BRANCH_CLOSED if mode is DoorMode.CLOSURE else Reason.OUTSIDE_HOURS)
    if member is None:
        return Decision.refuse(Reason.UNKNOWN_CARD)
    if member.locked_until is not None and now < member.locked_until:
        return Decision.refuse(Reason.CARD_LOCKED)
    if not pin_matches(member, pin):
        return Decision.refuse(Reason.WRONG_PIN)
    today = local_date(now, tz)
    if member.is_blocked_on(today):
        return Decision.refuse(Reason.BLOCKED)
    if member.valid_until < today:
        return Decision.refuse(Reason.EXPIRED)
    if is_staff:
        return GRANT
    if not member.is_registered_on(today):
        return Decision.refuse(Reason.NOT_REGISTERED)
    if not member.is_adult_on(today):
        return Decision.refuse(Reason.UNDER_18)
    return GRANT
