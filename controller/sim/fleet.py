"""Many simulated controllers in one process against one MQTT broker (issue 17).

`openplus-door fleet simulate --branches 50`, tests/fleet/test_fleet_scale.py and
bench/fleet.py all use this module, so what the tests prove is what the demo and the bench run.

Each SimController is a branch's fleet side for real, its door simulated:
- its own data directory and SQLite database (the real migrations, the real event log);
- the door's own EventWriter (door/event_writer.py: a queue and a thread, the spill file),
  whose "event written" hook wakes the publisher exactly as the door process does;
- a real FleetPublisher (outbox, QoS 1, retained state with its last will, heartbeat);
- an EntrySource standing in for the card reader and the door: demo members
  (services/demo.py: "DEMO000001", fake initials, the 2999... cards; nothing that looks like
  a real patron) decided by the pure `decide` of the real door, logged with the fields the
  door's Authorizer and DoorMachine write (access_granted/refused with its reason, card hint
  and "reader=... mode=..." detail; a grant followed by door_opened and door_closed).

Deliberately not simulated: gpiozero doors, readers and pins (the simulator in
controller/sim/hardware.py has those, at ~10 MB and a handful of threads per door; 50 of them
would test gpiozero, not the fleet), the PIN hasher (argon2 at 64 MiB per hash: the source
compares the demo PIN in plain) and the LMS. So a controller costs two threads (event writer,
publisher) and two SQLite connections, and 50 fit in one process on a small machine.

Time comes from the injected clock (`Clock`): entries are stamped with it and the publisher's
heartbeat follows it, so a test or the bench can pass a simulated day in no time.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from controller.config.fleet import FleetSettings
from controller.domain.cards import card_hint
from controller.domain.clock import Clock, local_date
from controller.domain.decision import decide
from controller.domain.events import DoorAlarm, Event, EventType
from controller.domain.members import Member, MemberRow
from controller.domain.modes import DoorMode
from controller.door.event_writer import SPILL_FILE, EventWriter
from controller.services.demo import DEMO_PIN, demo_members
from controller.services.fleet.publisher import FleetPublisher
from controller.sim.mosquitto import free_port
from controller.store.db import Database
from controller.store.events import READER_FIELD
from controller.store.fleet_outbox import FleetOutbox

SIM_VERSION = "sim"  # the `version` a simulated controller reports in its state
STOP_SECONDS = 5.0  # the longest a controller's threads get to finish on stop
WRONG_PIN_SHARE = 0.04  # attempts where the member mistypes the PIN
UNKNOWN_CARD_SHARE = 0.02  # a card this branch does not know (another library's, a bank card)
UNKNOWN_CARD = "2999999999999"  # one unknown card for all: its hint is the same in every log


def branch_name(number: int) -> str:
    """The n-th simulated branch's id (a topic level): sim-001, sim-002, ..."""
    return f"sim-{number:03d}"


def sim_key(branch: str) -> bytes:
    """The branch's pseudonym key. A real controller derives it from its pin.key (services/
    privacy.pseudonym_key); a simulated one has no PIN key, so it is derived from its id."""
    return hashlib.sha256(f"openplus-door simulated branch {branch}".encode()).digest()


@dataclass
class SimDoor:
    """The door's fields the state message reads (messages.DoorState): a closed door in
    Open+ mode, no alarm and no people counter."""

    mode: DoorMode = DoorMode.OPENPLUS
    door_open: bool = False
    relay_unlocked: bool = False
    alarm: DoorAlarm | None = None
    occupancy: int | None = None


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
        events = [
            Event(
                type=EventType.ACCESS_GRANTED if decision.granted else EventType.ACCESS_REFUSED,
                at=at,
                door=self._door,
                reason=decision.reason.value,
                member_ref=member.patron_id if member else None,
                card_hint=card_hint(card),
                detail=f"{READER_FIELD}{reader} mode={DoorMode.OPENPLUS.value}",
            )
        ]
        if decision.granted:
            events += [
                Event(type=kind, at=at, door=self._door)
                for kind in (EventType.DOOR_OPENED, EventType.DOOR_CLOSED)
            ]
        return events


class SimController:
    """One simulated branch: its database, event writer, fleet publisher and entry source."""

    def __init__(
        self,
        branch: str,
        data_dir: Path,
        settings: FleetSettings,
        clock: Clock,
        *,
        members: int = 200,
        seed: int = 2026,
    ) -> None:
        self.branch = branch
        self.data_dir = data_dir
        self._settings = settings
        self._clock = clock
        self.db = Database(data_dir / "door.db")
        self.door = SimDoor()
        self.source = EntrySource("front", local_date(clock()), members=members, seed=seed)
        self._ids_lock = threading.Lock()
        self._written: list[int] = []
        self.writer = EventWriter(self.db, data_dir / SPILL_FILE, on_event_written=self._event_written)
        self.publisher = self._new_publisher()

    def _new_publisher(self, settings: FleetSettings | None = None) -> FleetPublisher:
        return FleetPublisher(
            self.db,
            settings or self._settings,
            self._clock,
            self.branch,
            sim_key(self.branch),
            version=SIM_VERSION,
            state=lambda: self.door,
        )

    def _event_written(self, event_id: int, event: Event) -> None:
        """On the writer thread, as branch.py's hook: note the id, wake the publisher."""
        with self._ids_lock:
            self._written.append(event_id)
        self.publisher.wake()

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.writer.start()
        self.publisher.start()

    def stop(self, *, clean: bool = True) -> None:
        self.publisher.stop(STOP_SECONDS, clean=clean)
        self.writer.stop(STOP_SECONDS)

    def disconnect(self) -> None:
        """The branch's network is gone, the door goes on: the session drops without a word
        (the broker sends the last will) and the publisher keeps filling its outbox while
        its connection attempts fail (it is pointed at a loopback port nobody listens on)."""
        self.publisher.stop(STOP_SECONDS, clean=False)
        nowhere = self._settings.model_copy(update={"host": "127.0.0.1", "port": free_port()})
        self.publisher = self._new_publisher(nowhere)
        self.publisher.start()

    def reconnect(self) -> None:
        """The network is back: the publisher reaches the broker and sends what waited."""
        self.publisher.stop(STOP_SECONDS, clean=False)
        self.publisher = self._new_publisher()
        self.publisher.start()

    def waiting(self) -> int:
        """Events in the outbox the broker has not acknowledged yet."""
        with closing(self.db.connect()) as conn:
            return FleetOutbox(conn).waiting()

    # --- entries ------------------------------------------------------------------------------
    def enter(self, attempts: int = 1) -> int:
        """`attempts` members at the door now; events handed to the writer (never blocks)."""
        handed = 0
        for _ in range(attempts):
            for event in self.source.attempt(self._clock):
                self.writer.record(event)
                handed += 1
        return handed

    def flush(self, timeout: float = STOP_SECONDS) -> bool:
        """True once every event handed in is in the database."""
        return self.writer.flush(timeout)

    def event_ids(self) -> list[str]:
        """The fleet ids of the events written so far (`<branch>/<event id>`), in order."""
        with self._ids_lock:
            return [f"{self.branch}/{event_id}" for event_id in self._written]

    @property
    def sent(self) -> int:
        """Events the broker acknowledged to the current publisher."""
        return self.publisher.sent


class SimFleet:
    """`count` SimControllers under `root` (one directory each), one broker for all."""

    def __init__(
        self,
        root: Path,
        count: int,
        settings: FleetSettings,
        clock: Clock,
        *,
        members: int = 200,
        seed: int = 2026,
        name: Callable[[int], str] = branch_name,
    ) -> None:
        if count < 1:
            raise ValueError(f"a fleet needs at least one branch, not {count}")
        self.controllers = [
            SimController(name(n), root / name(n), settings, clock, members=members, seed=seed + n)
            for n in range(1, count + 1)
        ]

    def __iter__(self) -> Iterator[SimController]:
        return iter(self.controllers)

    def __len__(self) -> int:
        return len(self.controllers)

    def start(self) -> None:
        for controller in self.controllers:
            controller.start()

    def stop(self, *, clean: bool = True) -> None:
        for controller in self.controllers:
            controller.stop(clean=clean)

    def connected(self) -> int:
        """Controllers whose publisher has a session with the broker now."""
        return sum(c.publisher.connected.is_set() for c in self.controllers)

    def wait_connected(self, timeout: float) -> bool:
        """True once every controller has a session, within `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        return all(
            c.publisher.connected.wait(max(0.0, deadline - time.monotonic())) for c in self.controllers
        )

    def burst(self, attempts_per_branch: int) -> int:
        """Every branch gets `attempts_per_branch` attempts, taken in turns (branch 1, 2, ...,
        then again), so all outboxes fill at once as in a busy hour; events handed in."""
        handed = 0
        for _ in range(attempts_per_branch):
            for controller in self.controllers:
                handed += controller.enter()
        return handed

    def flush(self, timeout: float = STOP_SECONDS) -> bool:
        return all(controller.flush(timeout) for controller in self.controllers)

    def event_ids(self) -> set[str]:
        return {event_id for controller in self.controllers for event_id in controller.event_ids()}

    def sent(self) -> int:
        return sum(controller.sent for controller in self.controllers)
