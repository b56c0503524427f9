"""Many simulated controllers in one process against one MQTT broker (issue 17).

`openplus-door fleet simulate --branches 50`, tests/fleet/test_fleet_scale.py and
bench/fleet.py all use this module, so what the tests prove is what the demo and the bench run.

Each SimController is a branch's fleet side for real, its door simulated:
- its own data directory, SQLite database (the real migrations, the real event log) and
  pin.key, opened as Runtime.open does;
- the door's own EventWriter (door/event_writer.py: a queue and a thread, the spill file),
  whose "event written" hook wakes the publisher exactly as the door process does;
- a real FleetPublisher (outbox, QoS 1, retained state with its last will, heartbeat) and
  the real command subscriber (services/fleet/subscriber.py: signed commands verified,
  applied through the branch's use cases, acked through the outbox), which tells the SimDoor
  what the running door would be told;
- an EntrySource (fleet_door.py) standing in for the card reader and the door: demo members
  decided by the door's pure `decide`, logged as the door logs them.

Deliberately not simulated: gpiozero doors, readers and pins (the simulator in
controller/sim/hardware.py has those, at ~10 MB and a handful of threads per door; 50 of them
would test gpiozero, not the fleet), the PIN hasher (argon2 at 64 MiB per hash: the source
compares the demo PIN in plain), the LMS and the alert watch. So a controller costs three
threads (event writer, publisher, command subscriber) and three SQLite connections, and 50 fit
in one process on a small machine.

Time comes from the injected clock (`Clock`): entries are stamped with it and the publisher's
heartbeat follows it, so a test or the bench can pass a simulated day in no time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.config.fleet import FleetSettings
from controller.config.settings import BranchSettings, Settings, StorageSettings
from controller.domain.clock import Clock, local_date, utc_now
from controller.domain.events import Event
from controller.door.event_writer import SPILL_FILE, EventWriter
from controller.services.fleet.apply import DoorHooks
from controller.services.fleet.publisher import FleetPublisher
from controller.services.fleet.subscriber import FleetSubscriber, command_key, fleet_commands
from controller.services.privacy import pseudonym_key
from controller.services.runtime import DB_FILE, PIN_KEY_FILE, Runtime, pin_hasher_for, prepare_data_dir
from controller.sim.fleet_door import EntrySource, SimDoor
from controller.sim.mosquitto import free_port
from controller.store.db import Database
from controller.store.fleet_outbox import FleetOutbox

SIM_VERSION = "sim"  # the `version` a simulated controller reports in its state
STOP_SECONDS = 5.0  # the longest a controller's threads get to finish on stop
TICK_SECONDS = 1.0  # `run`: how often the branches get their attempts
DRAIN_POLL_SECONDS = 0.05


class SimClock:
    """Wall time running with the real clock, which the simulation can move ahead: a day
    offline passes in no time while heartbeats and timeouts keep their real pace (the CLI
    and bench/fleet.py; the tests use their FakeClock)."""

    def __init__(self, now: Clock = utc_now) -> None:
        self._now = now
        self._ahead = timedelta(0)

    def __call__(self) -> datetime:
        return self._now() + self._ahead

    def advance(self, **delta: float) -> datetime:
        self._ahead += timedelta(**delta)
        return self()


def branch_name(number: int) -> str:
    """The n-th simulated branch's id (a topic level): sim-001, sim-002, ..."""
    return f"sim-{number:03d}"


def _runtime(branch: str, data_dir: Path, fleet: FleetSettings, clock: Clock) -> Runtime:
    """The branch's Runtime as Runtime.open makes it (data directory 0700, migrated database,
    its own pin.key, from which the events' pseudonym key comes), for this directory: not
    through Settings.data_dir, which $OPENPLUS_DOOR_DATA_DIR would point at one directory for
    all branches."""
    settings = Settings(
        branch=BranchSettings(door=branch), storage=StorageSettings(data_dir=data_dir), fleet=fleet
    )
    prepare_data_dir(data_dir)
    db = Database(data_dir / DB_FILE)
    with closing(db.connect()) as conn:
        hasher = pin_hasher_for(conn, data_dir / PIN_KEY_FILE)
    return Runtime(settings=settings, db=db, hasher=hasher, clock=clock)


class SimController:
    """One simulated branch: its data directory and database, event writer, fleet publisher,
    command subscriber and entry source."""

    def __init__(
        self,
        branch: str,
        data_dir: Path,
        settings: FleetSettings,
        clock: Clock,
        key: Ed25519PublicKey | None,
        *,
        members: int = 200,
        seed: int = 2026,
    ) -> None:
        self.branch = branch
        self._key = key  # the fleet's, read once by SimFleet (or None: commands are refused)
        self.data_dir = data_dir
        self._settings = settings
        self._clock = clock
        self.runtime = _runtime(branch, data_dir, settings, clock)
        self.db = self.runtime.db
        self.door = SimDoor()
        self.source = EntrySource(branch, local_date(clock()), members=members, seed=seed)
        self._ids_lock = threading.Lock()
        self._written: list[int] = []
        self.writer = EventWriter(
            self.db, data_dir / SPILL_FILE, on_event_written=self._event_written, door=branch, clock=clock
        )
        self.publisher = self._new_publisher()
        self.commands = self._new_subscriber()

    def _new_publisher(self, settings: FleetSettings | None = None) -> FleetPublisher:
        return FleetPublisher(
            self.db,
            settings or self._settings,
            self._clock,
            self.branch,
            pseudonym_key(self.runtime.hasher),
            version=SIM_VERSION,
            state=lambda: self.door,
        )

    def _new_subscriber(self) -> FleetSubscriber:
        """The door process's command subscriber; the door it tells is the SimDoor."""
        hooks = DoorHooks(self.door.schedule_changed, self.door.remote_unlock, self.door.rules_changed)
        return fleet_commands(
            self.runtime,
            self._settings,
            self._clock,
            self.branch,
            hooks,
            self._key,
            lambda: self.publisher.wake(),
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
        self.commands.start()

    def stop(self, *, clean: bool = True) -> None:
        self.commands.stop(STOP_SECONDS)  # its session, and what is queued for it, stays
        self.publisher.stop(STOP_SECONDS, clean=clean)
        self.writer.stop(STOP_SECONDS)

    def wait_connected(self, timeout: float) -> bool:
        """Publishing and subscribed to its commands (a command sent before the subscriber's
        first session would find no session to queue in)."""
        deadline = time.monotonic() + timeout
        return self.publisher.connected.wait(timeout) and self.commands.connected.wait(
            max(0.0, deadline - time.monotonic())
        )

    def disconnect(self) -> None:
        """The branch's network is gone, the door goes on: the publisher's session drops
        without a word (the broker sends the last will) and it keeps filling its outbox while
        its connection attempts fail (pointed at a loopback port nobody listens on); the
        command subscriber is gone, its persistent session keeps what the console sends."""
        self.commands.stop(STOP_SECONDS)
        self.publisher.stop(STOP_SECONDS, clean=False)
        nowhere = self._settings.model_copy(update={"host": "127.0.0.1", "port": free_port()})
        self.publisher = self._new_publisher(nowhere)
        self.publisher.start()

    def reconnect(self) -> None:
        """The network is back: the outbox goes out, the queued commands come in."""
        self.publisher.stop(STOP_SECONDS, clean=False)
        self.publisher = self._new_publisher()
        self.publisher.start()
        self.commands = self._new_subscriber()
        self.commands.start()

    def waiting(self) -> int:
        """Events and acks in the outbox the broker has not acknowledged yet."""
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
        key = command_key(settings.command_key_file)  # read, and a missing one warned about, once
        self.controllers = [
            SimController(name(n), root / name(n), settings, clock, key, members=members, seed=seed + n)
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
        """True once every controller publishes and is subscribed, within `timeout` s in all."""
        deadline = time.monotonic() + timeout
        return all(c.wait_connected(max(0.0, deadline - time.monotonic())) for c in self.controllers)

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

    def drain(self, timeout: float) -> bool:
        """True once every event written is acknowledged by the broker (a clean stop leaves
        nothing in the outboxes), within `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        if not self.flush(timeout):
            return False
        pause = threading.Event()
        while any(controller.waiting() for controller in self.controllers):
            if time.monotonic() > deadline:
                return False
            pause.wait(DRAIN_POLL_SECONDS)
        return True

    def status(self) -> str:
        written = sum(len(controller.event_ids()) for controller in self.controllers)
        return (
            f"{len(self)} branches, {self.connected()} connected; "
            f"{written} events written, {self.sent()} acknowledged by the broker"
        )

    def run(
        self,
        attempts_per_minute: float,
        stop: threading.Event,
        *,
        report: Callable[[str], None],
        report_seconds: float = 10.0,
        seed: int = 2026,
    ) -> None:
        """Entries in real time until `stop` is set: each second every branch gets on average
        attempts_per_minute / 60 attempts (a random draw, so the branches do not march in
        step); `report(status)` every report_seconds."""
        rng = random.Random(seed)
        per_tick = attempts_per_minute / 60 * TICK_SECONDS
        whole, part = int(per_tick), per_tick - int(per_tick)
        next_report = time.monotonic() + report_seconds
        while True:  # the first tick always: a run set to stop at once still has entries
            for controller in self.controllers:
                controller.enter(whole + (rng.random() < part))
            if time.monotonic() >= next_report:
                report(self.status())
                next_report += report_seconds
            if stop.wait(TICK_SECONDS):
                return
