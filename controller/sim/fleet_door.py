"""A simulated branch's door for the fleet simulation (controller/sim/fleet.py): who comes to
the door, what the door decides and what it logs, and the door's state as the fleet reports it.

Demo members (services/demo.py: "DEMO000001", fake initials, the 2999... cards; nothing that
looks like a real patron) are decided by the door's own pure `decide` and logged with the fields
the door's Authorizer and DoorMachine write: access_granted/refused with its reason, the card
hint and the "reader=... mode=..." detail, a grant followed by door_opened and door_closed.
The PIN is compared in plain (the door's argon2 hash costs 64 MiB per check; 50 branches in one
process cannot afford it, and the fleet does not see PINs anyway).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from controller.domain.clock import Clock
from controller.domain.decision import decide
from controller.domain.eligibility import EligibilityRules
from controller.domain.events import DoorAlarm, Event, EventType
from controller.domain.members import Member, MemberRow
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.services.access import access_event
from controller.services.demo import DEMO_PIN, demo_members

WRONG_PIN_SHARE = 0.04  # attempts where the member mistypes the PIN
UNKNOWN_CARD_SHARE = 0.02  # a card this branch does not know (another library's, a bank card)
UNKNOWN_CARD = "2999999999999"  # one unknown card for all: its hint is the same in every log


@dataclass
class SimDoor:
    """The door's fields the state message reads (messages.DoorState): a closed door in
    Open+ mode, no alarm and no people counter; and what the fleet's commands told it (the
    door process's hooks: services/fleet/apply.DoorHooks), kept for the tests to read."""

    mode: DoorMode = DoorMode.OPENPLUS
    door_open: bool = False
    relay_unlocked: bool = False
    alarm: DoorAlarm | None = None
    occupancy: int | None = None
    schedules: list[Schedule] = field(default_factory=list)
    unlocks: list[str] = field(default_factory=list)
    rules: list[EligibilityRules] = field(default_factory=list)

    def schedule_changed(self, schedule: Schedule) -> None:
        self.schedules.append(schedule)

    def remote_unlock(self, actor: str) -> None:
        self.unlocks.append(actor)

    def rules_changed(self, rules: EligibilityRules) -> None:
        self.rules.append(rules)


def _member(number: int, row: MemberRow) -> Member:
    return Member(
        id=number,
        patron_id=row.patron_id,
        display_name=row.display_name,
        cards=row.cards,
        adult_on=row.adult_on,
        valid_until=row.valid_until,
        openplus_registered_on=row.openplus_registered_on,
        entry_blocked=row.entry_blocked,
        blocked_until=row.blocked_until,
        category=row.category,
    )


class EntrySource:
    """Attempts at one branch's door: who comes, which reader, which PIN, and what the door
    logs for it. Deterministic for a seed, so a run can be repeated."""

    def __init__(self, door: str, today: date, *, members: int, seed: int) -> None:
        self._door = door
        self._rng = random.Random(seed)
        self._members = [_member(n, row) for n, row in enumerate(demo_members(members, today), start=1)]

    def attempt(self, now: Clock) -> list[Event]:
        """One member at the door: the access event and, for a grant, the door's opening and
        closing; all stamped `now()`."""
        rng = self._rng
        at = now()
        member: Member | None = rng.choice(self._members)
        if rng.random() < UNKNOWN_CARD_SHARE:
            member, card, reader = None, UNKNOWN_CARD, "rfid"
        else:
            assert member is not None
            rfid = rng.random() < 0.7
            card, reader = member.cards[1 if rfid else 0], "rfid" if rfid else "barcode"
        pin = "0000" if rng.random() < WRONG_PIN_SHARE else DEMO_PIN
        decision = decide(member, pin, DoorMode.OPENPLUS, at, pin_matches=lambda _m, typed: typed == DEMO_PIN)
        events = [access_event(decision, member, card, reader, DoorMode.OPENPLUS, self._door, at)]
        if decision.granted:
            events += [
                Event(type=kind, at=at, door=self._door)
                for kind in (EventType.DOOR_OPENED, EventType.DOOR_CLOSED)
            ]
        return events
