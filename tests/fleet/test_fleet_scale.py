"""The fleet at scale (issue 17): 50 simulated controllers (controller/sim/fleet.py: each its
own database, event writer and real FleetPublisher) in this process against a real Mosquitto,
the fleet console's ingest (fleet_console/) and a test subscriber to everything on the wire:
state and events from all arrive; the broker stopped mid-burst and restarted loses no event and
the console stores none twice (ids); a controller cut off for a simulated day (injected clock)
catches up. And `openplus-door fleet simulate`, which runs the same controllers."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import main
from controller.config.alerts import AlertKind
from controller.services.alerts.rules import kind_of
from controller.services.fleet.commands import PUBLIC_KEY_FILE
from controller.services.fleet.publisher import WINDOW
from controller.sim.fleet import SimController, SimFleet
from controller.store.alerts import AlertStore, EventRow
from controller.store.schedule import ScheduleStore
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.service.send import send_command
from fleet_console.store.branches import BranchStore
from fleet_console.store.commands import CommandStore
from fleet_console.store.fleet_events import FleetEventStore
from tests.conftest import FakeClock
from tests.fleet_console.conftest import BranchClient
from tests.mqtt_support import HANG_GUARD, Broker, mosquitto_binary

pytestmark = pytest.mark.slow  # 50 controllers and a broker: seconds per test

BRANCHES = 50
ARRIVAL_GUARD = 60.0  # thousands of messages through one broker on a shared machine
Messages = list[tuple[str, dict[str, Any]]]


def events_cover(expected: set[str]) -> Callable[[Messages], bool]:
    """A wait condition: every id in `expected` arrived on an events topic. It reads only the
    messages added since its last call (the collector calls it on every message)."""
    seen: set[str] = set()
    read = 0

    def check(items: Messages) -> bool:
        nonlocal read
        seen.update(p["id"] for t, p in items[read:] if t.endswith("/events"))
        read = len(items)
        return seen >= expected

    return check


def event_ids(messages: Messages) -> list[str]:
    return [p["id"] for t, p in messages if t.endswith("/events")]


def states(messages: Messages, state: str) -> set[str]:
    return {p["branch"] for t, p in messages if t.endswith("/state") and p["state"] == state}


def branches(fleet: SimFleet) -> set[str]:
    return {controller.branch for controller in fleet}


def stored_ids(console: ConsoleRuntime) -> list[str]:
    """The event ids in the console's database, a row each (a duplicate would be two)."""
    with closing(console.connection()) as conn:
        return [row[0] for row in conn.execute("SELECT msg_id FROM fleet_events")]


def online_at_console(console: ConsoleRuntime) -> set[str]:
    with closing(console.connection()) as conn:
        return {row.id for row in BranchStore(conn).all() if row.online}


def wait_for(check: Callable[[], bool], timeout: float = HANG_GUARD) -> bool:
    """Wait for a condition the controllers' threads bring about."""
    deadline = time.monotonic() + timeout
    polled = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            return False
        polled.wait(0.02)
    return True


def test_state_and_events_from_50_controllers_arrive(
    sim_fleet: Callable[..., SimFleet], fleet_broker: Broker, fleet_console: ConsoleRuntime
) -> None:
    fleet = sim_fleet(BRANCHES)
    fleet.burst(4)
    assert fleet.flush()
    expected = fleet.event_ids()
    got = fleet_broker.messages.wait_until(events_cover(expected), ARRIVAL_GUARD)

    assert len(expected) >= BRANCHES * 4  # an attempt is one event, a grant three
    assert states(got, "online") == branches(fleet)
    assert {p["branch"] for t, p in got if t.endswith("/heartbeat")} == branches(fleet)
    events = [p for t, p in got if t.endswith("/events")]
    assert {e["type"] for e in events} >= {"access_granted", "access_refused", "door_opened"}
    assert all(e["member"] is None or e["member"].startswith("pseudo:") for e in events)
    assert "DEMO0" not in json.dumps(events)  # the (demo) patron ids never leave a branch
    assert wait_for(lambda: all(controller.waiting() == 0 for controller in fleet))  # PUBACKs
    assert wait_for(lambda: len(stored_ids(fleet_console)) == len(expected), ARRIVAL_GUARD)
    assert set(stored_ids(fleet_console)) == expected
    assert wait_for(lambda: online_at_console(fleet_console) == branches(fleet))


def test_broker_stopped_mid_burst_loses_no_event_and_duplicates_none(
    sim_fleet: Callable[..., SimFleet], fleet_broker: Broker, fleet_console: ConsoleRuntime
) -> None:
    fleet = sim_fleet(BRANCHES)
    fleet.burst(20)
    fleet_broker.messages.wait_until(lambda items: len(items) >= 500, ARRIVAL_GUARD)
    fleet_broker.stop_process()  # mid-burst: most of the events are still to go
    assert fleet.flush()
    assert fleet.event_ids() - set(event_ids(fleet_broker.messages.items))  # still to go
    fleet.burst(5)
    assert fleet.flush()
    fleet_broker.start()
    fleet_broker.wait_resubscribed()
    expected = fleet.event_ids()
    got = fleet_broker.messages.wait_until(events_cover(expected), ARRIVAL_GUARD)

    received = event_ids(got)
    assert set(received) == expected  # nothing lost, nothing foreign
    assert len(expected) == sum(len(c.event_ids()) for c in fleet)  # ids are unique per event
    # QoS 1 may repeat on the wire what was in flight when the broker went (its PUBACK lost),
    # at most one window per controller; a repeat is the same event under the same id, so a
    # receiver dropping known ids stores each event once.
    repeats = Counter(received) - Counter(expected)
    per_branch = Counter(event_id.split("/")[0] for event_id in repeats.elements())
    assert all(count <= WINDOW for count in per_branch.values())
    by_id = {p["id"]: p for t, p in got if t.endswith("/events")}
    assert all(p == by_id[p["id"]] for t, p in got if t.endswith("/events"))
    assert wait_for(lambda: all(controller.waiting() == 0 for controller in fleet))
    # The console (its persistent session kept what came while it was cut off) stores each once.
    assert wait_for(lambda: set(stored_ids(fleet_console)) >= expected, ARRIVAL_GUARD)
    stored = stored_ids(fleet_console)
    assert len(stored) == len(set(stored)) and set(stored) == expected


def day_offline(fleet: SimFleet, offline: SimController, clock: FakeClock) -> None:
    """A day passes in quarters of an hour: an entry at the cut-off branch each quarter, one
    at every other branch each hour."""
    for quarter in range(24 * 4):
        clock.advance(minutes=15)
        offline.enter()
        if quarter % 4 == 0:
            for controller in fleet:
                if controller is not offline:
                    controller.enter()


def test_a_controller_cut_off_for_a_day_catches_up(
    sim_fleet: Callable[..., SimFleet], fleet_broker: Broker, fleet_console: ConsoleRuntime, clock: FakeClock
) -> None:
    fleet = sim_fleet(BRANCHES)
    offline = fleet.controllers[7]
    offline.disconnect()
    fleet_broker.messages.wait_until(lambda items: offline.branch in states(items, "offline"))
    assert wait_for(lambda: offline.branch not in online_at_console(fleet_console))

    day_offline(fleet, offline, clock)
    assert fleet.flush()
    held = offline.event_ids()
    assert len(held) >= 24 * 4
    assert wait_for(lambda: offline.waiting() == len(held))  # the outbox kept the whole day
    others = fleet.event_ids() - set(held)
    fleet_broker.messages.wait_until(events_cover(others), ARRIVAL_GUARD)  # the rest went on
    assert not set(event_ids(fleet_broker.messages.items)) & set(held)

    offline.reconnect()
    got = fleet_broker.messages.wait_until(events_cover(set(held)), ARRIVAL_GUARD)
    arrived = [i for i in event_ids(got) if i.startswith(f"{offline.branch}/")]
    assert list(dict.fromkeys(arrived)) == held  # all of the day, oldest first
    assert wait_for(lambda: offline.waiting() == 0)
    last_state = [p for t, p in got if t == f"openplus/{offline.branch}/state"][-1]
    assert last_state["state"] == "online"
    assert wait_for(lambda: set(held) <= set(stored_ids(fleet_console)), ARRIVAL_GUARD)
    assert wait_for(lambda: offline.branch in online_at_console(fleet_console))


def test_fleet_simulate_command_publishes_from_every_branch(
    fleet_broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fleet", "simulate", "--branches", "3", "--rate", "600", "--seconds", "1"]
    argv += ["--host", "127.0.0.1", "--port", str(fleet_broker.port), "--no-tls"]
    assert main([*argv, "--data-dir", str(tmp_path / "sim")]) == 0

    out = capsys.readouterr().out
    written = re.search(r"(\d+) events written, (\d+) acknowledged", out)
    assert written and written[1] == written[2] and int(written[1]) >= 3 * 10, out
    got = fleet_broker.messages.wait_for(int(written[1]))
    assert {i.split("/")[0] for i in event_ids(got)} == {"sim-001", "sim-002", "sim-003"}
    assert sorted(path.name for path in (tmp_path / "sim").iterdir()) == ["sim-001", "sim-002", "sim-003"]


def test_fleet_simulate_without_a_command_key_says_so_once_for_the_run(
    fleet_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The simulated branches share the one setting: one warning, not one per branch."""
    argv = ["fleet", "simulate", "--branches", "3", "--rate", "0", "--seconds", "0.1"]
    argv += ["--host", "127.0.0.1", "--port", str(fleet_broker.port), "--no-tls"]
    with caplog.at_level(logging.WARNING, logger="controller.services.fleet.subscriber"):
        assert main([*argv, "--data-dir", str(tmp_path / "sim")]) == 0
    assert caplog.text.count("no [fleet] command_key_file") == 1, caplog.text


def test_fleet_simulate_command_with_its_own_broker(capsys: pytest.CaptureFixture[str]) -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; ./dev installs it)")
    argv = ["fleet", "simulate", "--branches", "2", "--rate", "120", "--seconds", "0.5", "--local-broker"]
    assert main(argv) == 0
    written = re.search(r"(\d+) events written, (\d+) acknowledged", capsys.readouterr().out)
    assert written and written[1] == written[2] != "0"


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--branches", "0"], "'0' is not a number of branches from 1 to 500"),
        (["--branches", "many"], "'many' is not a number of branches"),
        (["--rate", "-1"], "'-1' is not a number of attempts per minute from 0 to 600"),
    ],
)
def test_fleet_simulate_refuses_bad_numbers(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["fleet", "simulate", *argv])
    assert stopped.value.code == 2 and problem in capsys.readouterr().err


def test_fleet_simulate_names_a_bad_port_or_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "simulate", "--port", "70000", "--no-tls"]) == 2
    assert "--port 70000 is not a port (1..65535)" in capsys.readouterr().err
    (tmp_path / "fleet.pub").write_text("not a key", encoding="utf-8")
    assert main(["fleet", "simulate", "--command-key", str(tmp_path / "fleet.pub")]) == 2
    assert f"--command-key: {tmp_path / 'fleet.pub'} is not an Ed25519 public key" in capsys.readouterr().err


SCHEDULE = {"weekly": {"monday": [{"start": "08:00", "end": "22:00", "kind": "openplus"}]}}


def send(console: ConsoleRuntime, kind: str, body: dict[str, Any], targets: list[str]) -> str:
    """As the console's pages send: signed envelopes stored, the link woken."""
    with closing(console.connection()) as conn:
        command = send_command(
            conn, console.clock, console.key, kind=kind, body=body, targets=targets, by="anna"
        )
    console.wake_link()
    return command


def answers(console: ConsoleRuntime, command: str) -> Counter[str]:
    with closing(console.connection()) as conn:
        return Counter(target.status for target in CommandStore(conn).targets(command))


def audit(controller: SimController, reason: str) -> list[EventRow]:
    """The branch's own log: the admin_change events of the fleet's commands with `reason`."""
    with closing(controller.db.connect()) as conn:
        rows = AlertStore(conn).events_after(0, 100_000)
    return [row for row in rows if row.type == "admin_change" and row.reason == reason]


def test_a_schedule_sent_to_all_50_is_applied_by_all_and_acknowledged(
    sim_fleet: Callable[..., SimFleet], fleet_console: ConsoleRuntime, tmp_path: Path
) -> None:
    fleet = sim_fleet(BRANCHES, command_key=tmp_path / "keys" / PUBLIC_KEY_FILE)
    away = fleet.controllers[-1]
    away.disconnect()  # cut off when the schedule is sent: its persistent session queues it
    command = send(fleet_console, "schedule", SCHEDULE, sorted(branches(fleet)))

    assert wait_for(lambda: answers(fleet_console, command)["applied"] == BRANCHES - 1, ARRIVAL_GUARD)
    assert answers(fleet_console, command) == Counter(applied=BRANCHES - 1, pending=1)
    away.reconnect()
    assert wait_for(lambda: answers(fleet_console, command) == Counter(applied=BRANCHES), ARRIVAL_GUARD)
    for controller in fleet:
        with closing(controller.db.connect()) as conn:
            stored = ScheduleStore(conn).load()
        assert stored.schedule.weekly.monday[0].end == "22:00" and stored.updated_by == "fleet:anna"
        assert controller.door.schedules == [stored.schedule]  # the running door was told
        assert [row.detail for row in audit(controller, "fleet_command_applied")] == [
            f"schedule version 1 id {command}"
        ]


def test_a_tampered_or_replayed_command_is_refused_and_alerted(
    sim_fleet: Callable[..., SimFleet], fleet_console: ConsoleRuntime, fleet_broker: Broker, tmp_path: Path
) -> None:
    fleet = sim_fleet(BRANCHES, command_key=tmp_path / "keys" / PUBLIC_KEY_FILE)
    command = send(fleet_console, "schedule", SCHEDULE, sorted(branches(fleet)))
    assert wait_for(lambda: answers(fleet_console, command) == Counter(applied=BRANCHES), ARRIVAL_GUARD)
    with closing(fleet_console.connection()) as conn:
        sent = {target.branch: target.payload for target in CommandStore(conn).targets(command)}
    replayed, tampered = fleet.controllers[3], fleet.controllers[4]
    forged = json.loads(sent[tampered.branch])
    forged["body"]["weekly"]["monday"][0]["end"] = "23:59"  # the signature is the console's
    forged["version"] += 1  # and newer, so only the signature can stop it
    attacker = BranchClient(fleet_broker.port, "attacker")
    try:
        attacker.publish(f"openplus/{replayed.branch}/commands", sent[replayed.branch])
        attacker.publish(f"openplus/{tampered.branch}/commands", json.dumps(forged))
    finally:
        attacker.close()

    acks = fleet_broker.messages.wait_until(
        lambda items: sum(t.endswith("/acks") and p["status"] == "refused" for t, p in items) >= 2
    )
    refused = {p["branch"]: p for t, p in acks if t.endswith("/acks") and p["status"] == "refused"}
    assert "stale or replayed" in refused[replayed.branch]["reason"]
    assert "bad signature" in refused[tampered.branch]["reason"]
    for controller in (replayed, tampered):
        assert len(controller.door.schedules) == 1  # the door was told of the real one only
        [event] = audit(controller, "fleet_command_refused")
        assert kind_of(event, lambda: None) is AlertKind.FLEET_COMMAND_REFUSED  # the branch's alert
    with closing(tampered.db.connect()) as conn:
        assert ScheduleStore(conn).load().schedule.weekly.monday[0].end == "22:00"

    def console_alerts() -> set[str]:
        with closing(fleet_console.connection()) as conn:
            return {alert.branch for alert in FleetEventStore(conn).open_alerts(100)}

    assert wait_for(lambda: console_alerts() == {replayed.branch, tampered.branch}, ARRIVAL_GUARD)
    assert answers(fleet_console, command) == Counter(applied=BRANCHES)  # the first answer stands
