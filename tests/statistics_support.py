"""A month of generated access events for the statistics tests (roll-up, pages, browser).

March 2026 in Amsterdam: the clocks go forward on Sunday the 29th (02:00 -> 03:00), so that
day has 23 hours. Staffed 10:00-17:00, Open+ 08:00-10:00 and 17:00-21:00; the numbers come
from a seeded generator, so every run makes the same month.
"""

from __future__ import annotations

import random
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from controller.domain.clock import BRANCH_TZ, to_local, to_utc
from controller.domain.events import Event, EventType
from controller.services.runtime import Runtime
from controller.store.db import transaction
from controller.store.events import EventLog

MONTH_FIRST, MONTH_LAST = date(2026, 3, 1), date(2026, 3, 31)
DST_DAY = date(2026, 3, 29)
REFUSAL_REASONS = ("wrong_pin", "unknown_card", "not_registered", "outside_hours", "expired")
MEMBERS = [f"P{n:04d}" for n in range(1, 61)]


def mode_at_hour(hour: int) -> str:
    return "staffed" if 10 <= hour < 17 else "openplus"


@dataclass(frozen=True)
class Generated:
    events: list[Event]

    @property
    def granted(self) -> list[Event]:
        return [e for e in self.events if e.type is EventType.ACCESS_GRANTED]

    @property
    def refused(self) -> list[Event]:
        return [e for e in self.events if e.type is EventType.ACCESS_REFUSED]

    def granted_per_day(self) -> Counter[date]:
        return Counter(to_local(e.at).date() for e in self.granted)

    def granted_per_local_hour(self) -> Counter[int]:
        return Counter(to_local(e.at).hour for e in self.granted)

    def openplus(self) -> int:
        return sum(1 for e in self.granted if "mode=openplus" in (e.detail or ""))

    def refusals(self) -> Counter[str]:
        return Counter(e.reason or "" for e in self.refused)

    def members_on(self, day: date) -> int:
        return len({e.member_ref for e in self.granted if to_local(e.at).date() == day})

    def members_between(self, first: date, last: date, openplus: bool = False) -> int:
        return len(
            {
                e.member_ref
                for e in self.granted
                if first <= to_local(e.at).date() <= last
                and (not openplus or "mode=openplus" in (e.detail or ""))
            }
        )


def access_event(
    at: datetime,
    granted: bool,
    mode: str,
    member: str | None,
    reason: str = "granted",
    door: str = "entrance",
) -> Event:
    return Event(
        type=EventType.ACCESS_GRANTED if granted else EventType.ACCESS_REFUSED,
        at=to_utc(at),
        door=door,
        reason=reason if not granted else "granted",
        member_ref=member,
        card_hint="0001",
        detail=f"reader=rfid mode={mode}",
    )


def generate_month(seed: int = 16) -> Generated:
    """Every day of March 2026, 08:00-21:00: 0-5 entries and 0-1 refusals an hour, plus three
    entries on the DST night (01:30, 03:00 and 03:30 local) and door movements around them."""
    rng = random.Random(seed)
    events: list[Event] = []
    day = MONTH_FIRST
    while day <= MONTH_LAST:
        for hour in range(8, 21):
            for _ in range(rng.randint(0, 5)):
                at = datetime.combine(day, time(hour, rng.randint(0, 59)), tzinfo=BRANCH_TZ)
                events.append(access_event(at, True, mode_at_hour(hour), rng.choice(MEMBERS)))
            if rng.random() < 0.4:
                at = datetime.combine(day, time(hour, rng.randint(0, 59)), tzinfo=BRANCH_TZ)
                events.append(access_event(at, False, mode_at_hour(hour), None, rng.choice(REFUSAL_REASONS)))
        day += timedelta(days=1)
    for hour, minute in ((1, 30), (3, 0), (3, 30)):  # the night the clocks go forward
        at = datetime.combine(DST_DAY, time(hour, minute), tzinfo=BRANCH_TZ)
        events.append(access_event(at, True, "openplus", "P0001"))
    events.sort(key=lambda e: e.at)
    return Generated(events)


def write_events(runtime: Runtime, events: list[Event]) -> None:
    """The events into the log in one transaction, with a door movement after each entry (the
    roll-up must pass over the other types)."""
    with closing(runtime.connection()) as conn, transaction(conn):
        log = EventLog(conn)
        for event in events:
            log.record(event)
            if event.type is EventType.ACCESS_GRANTED:
                log.record(
                    Event(type=EventType.DOOR_OPENED, at=event.at + timedelta(seconds=2), door=event.door)
                )
