"""The fleet at scale (issue 17): 50 simulated controllers (controller/sim/fleet.py, each its own
SQLite database, the door's event writer, a real FleetPublisher and the command subscriber) in
this process, the fleet console (fleet_console/: its ingest and its link) and a Mosquitto of
its own on loopback (controller/sim/mosquitto.py, as the tests start it).

- `fleet_events_per_s`: a burst of entries at all 50 branches at once (an attempt is one
  event, a grant three), from the first event handed to the event writers until a plain
  subscriber on `<prefix>/+/events` has every id: what the broker carries from 50 outboxes.
  Median of ROUNDS bursts; `fleet_console_stored_per_s` is the console's ingest on the same
  bursts (every id in its database).
- `fleet_ack_p50`, `fleet_ack_p99`: a schedule sent to all 50 from the console (send_command,
  as the console's schedule page does, then the link's wake) until the console's database
  has all 50 acknowledgements as "applied"; SENDS sends, one after the other.
- `fleet_catchup_one_day`: one branch cut off from the broker for a simulated day (an entry
  every quarter of an hour, the clock moved, not waited for), then back: the time until
  every event of its day reached the subscriber. `fleet_catchup_all_day`: the same with all
  50 cut off at once.

Prints `name: value unit` lines; the headline (last line) is the acknowledgement p99.
Target: under 2 s for 50 branches on one machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.support.relay_timing import percentile
from controller.config.fleet import FleetSettings
from controller.services.fleet.commands import generate_keys
from controller.sim.fleet import SimClock, SimController, SimFleet
from controller.sim.mosquitto import Mosquitto, mosquitto_binary
from fleet_console.config import parse_console_settings
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.service.send import send_command
from fleet_console.store.commands import CommandStore

BRANCHES = 50
ROUNDS = 3
ATTEMPTS_PER_BRANCH = 40  # per burst: about 5,000 events from 50 branches
SENDS = 20
QUARTERS = 24 * 4  # a day offline, an entry every quarter of an hour
GUARD_SECONDS = 120.0  # only reached when something is broken
POLL_SECONDS = 0.005  # how often the console's database is looked at for the acks


class Arrivals:
    """A plain subscriber to every branch's events: which ids arrived, and a wait for them."""

    def __init__(self, port: int) -> None:
        self._seen: set[str] = set()
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-fleet-arrivals")
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe("openplus/+/events", qos=1)
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(GUARD_SECONDS):
            raise SystemExit("the bench's subscriber was not subscribed")

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        event_id = json.loads(message.payload)["id"]
        with self._cond:
            self._seen.add(event_id)
            self._cond.notify_all()

    def wait_for(self, ids: set[str]) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._seen >= ids, GUARD_SECONDS):
                raise SystemExit(f"{len(ids - self._seen)} of {len(ids)} events did not arrive")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_SECONDS
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {GUARD_SECONDS:g} s: {what}")
        pause.wait(POLL_SECONDS)


def stored_count(console: ConsoleRuntime) -> int:
    with closing(console.connection()) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM fleet_events").fetchone()[0])


@contextmanager
def broker(work: Path) -> Iterator[int]:
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("bench/fleet.py needs Mosquitto: sudo apt-get install mosquitto")
    (work / "broker").mkdir()
    # persistent: Mosquitto's settings for a fleet (docs/fleet.md): no cap on a client's queue.
    # With the default cap (1,000) the broker drops QoS 1 messages for a subscriber that falls
    # behind a burst from 50 branches.
    mosquitto = Mosquitto(binary, work / "broker", persistent=True)
    mosquitto.start()
    try:
        yield mosquitto.port
    finally:
        mosquitto.stop_process()


def open_console(work: Path, port: int, clock: SimClock) -> tuple[ConsoleRuntime, Path]:
    """The console with a fresh fleet key; the public key's path for the branches."""
    private, public = generate_keys(work / "keys")
    settings = parse_console_settings(
        {
            "console": {"key_file": str(private)},
            "broker": {"host": "127.0.0.1", "port": port, "tls": False, "reconnect_max_seconds": 0.2},
        },
        "bench",
    )
    console = ConsoleRuntime.open(settings, work / "console", clock)
    link = console.start_link()
    if not link.subscribed.wait(GUARD_SECONDS):
        raise SystemExit("the console did not subscribe")
    return console, public


def events_per_second(
    fleet: SimFleet, arrivals: Arrivals, console: ConsoleRuntime
) -> tuple[float, float, int]:
    """Median over ROUNDS bursts: (through the broker, stored by the console) per second, and
    the events of one burst."""
    through, stored, size = [], [], 0
    for _ in range(ROUNDS):
        before = fleet.event_ids()
        already = stored_count(console)
        started = time.perf_counter()
        fleet.burst(ATTEMPTS_PER_BRANCH)
        fleet.flush(GUARD_SECONDS)
        new = fleet.event_ids() - before
        size = len(new)
        arrivals.wait_for(new)
        through.append(len(new) / (time.perf_counter() - started))
        wanted = already + len(new)
        wait(lambda: stored_count(console) >= wanted, "the console storing the burst")  # noqa: B023
        stored.append(len(new) / (time.perf_counter() - started))
    return statistics.median(through), statistics.median(stored), size


def schedule(n: int) -> dict[str, object]:
    """A different schedule each send (Open+ until 20:00, 20:01, ...), as an edit would be."""
    end = f"20:{n % 60:02d}"
    hours = [{"start": "08:00", "end": end, "kind": "openplus"}]
    return {"weekly": {day: hours for day in ("monday", "friday")}}


def applied(console: ConsoleRuntime, command: str) -> int:
    with closing(console.connection()) as conn:
        row = CommandStore(conn).get(command)
    return 0 if row is None else row.applied


def ack_times(fleet: SimFleet, console: ConsoleRuntime) -> list[float]:
    targets = [controller.branch for controller in fleet]
    samples = []
    for n in range(SENDS):
        started = time.perf_counter()
        with closing(console.connection()) as conn:
            command = send_command(
                conn,
                console.clock,
                console.key,
                kind="schedule",
                body=schedule(n),
                targets=targets,
                by="bench",
            )
        console.wake_link()
        wait(lambda: applied(console, command) == len(targets), f"all acknowledgements of send {n + 1}")  # noqa: B023
        samples.append(time.perf_counter() - started)
    return samples


def day_offline(controllers: list[SimController], clock: SimClock, arrivals: Arrivals) -> tuple[float, int]:
    """Cut these controllers off, pass a day of entries, bring them back: seconds to catch up,
    and the events they had to send."""
    for controller in controllers:
        controller.disconnect()
    before = {c.branch: set(c.event_ids()) for c in controllers}
    for _ in range(QUARTERS):
        clock.advance(minutes=15)
        for controller in controllers:
            controller.enter()
    for controller in controllers:
        controller.flush(GUARD_SECONDS)
    held = {i for c in controllers for i in c.event_ids() if i not in before[c.branch]}
    wait(lambda: sum(c.waiting() for c in controllers) >= len(held), "the outboxes holding the day")
    started = time.perf_counter()
    for controller in controllers:
        controller.reconnect()
    arrivals.wait_for(held)
    return time.perf_counter() - started, len(held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branches", type=int, default=BRANCHES)
    args = parser.parse_args()
    clock = SimClock()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp, broker(Path(tmp)) as port:
        work = Path(tmp)
        console, public_key = open_console(work, port, clock)
        settings = FleetSettings(
            enabled=True, host="127.0.0.1", port=port, tls=False, reconnect_max_seconds=0.2
        ).model_copy(update={"command_key_file": public_key})
        arrivals = Arrivals(port)
        fleet = SimFleet(work / "branches", args.branches, settings, clock)
        started = time.perf_counter()
        fleet.start()
        if not fleet.wait_connected(GUARD_SECONDS):
            raise SystemExit(f"only {fleet.connected()} of {args.branches} controllers connected")
        connect_s = time.perf_counter() - started
        try:
            through, stored, burst = events_per_second(fleet, arrivals, console)
            acks = ack_times(fleet, console)
            one, one_events = day_offline(fleet.controllers[:1], clock, arrivals)
            all_day, all_events = day_offline(fleet.controllers, clock, arrivals)
        finally:
            fleet.stop()
            console.stop()
            arrivals.close()
    print(f"fleet_branches: {args.branches} count")
    print(f"fleet_connect_all: {connect_s:.2f} s")
    print(f"fleet_burst: {burst} events")
    print(f"fleet_events_per_s: {through:.0f} events/s")
    print(f"fleet_console_stored_per_s: {stored:.0f} events/s")
    print(f"fleet_day_events_one: {one_events} events")
    print(f"fleet_catchup_one_day: {one:.2f} s")
    print(f"fleet_day_events_all: {all_events} events")
    print(f"fleet_catchup_all_day: {all_day:.2f} s")
    print(f"fleet_ack_p50: {statistics.median(acks) * 1000:.0f} ms")
    print(f"fleet_ack_max: {max(acks) * 1000:.0f} ms")
    print(f"fleet_ack_p99: {percentile(acks, 99) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
