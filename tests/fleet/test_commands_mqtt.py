"""Fleet commands through a real Mosquitto: signed by the console, received by the branch's
subscriber (persistent session), applied, acknowledged on `<prefix>/<branch>/acks` through the
outbox, refused when tampered, replayed (also after a restart) or late."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.config.fleet import FleetSettings
from controller.config.settings import Settings
from controller.services.fleet.commands import encode, generate_keys, load_private_key, new_envelope, sign
from controller.services.fleet.publisher import FleetPublisher
from controller.services.fleet.subscriber import (
    FleetDoor,
    FleetSubscriber,
    door_hooks,
    open_branch_fleet,
    open_fleet_commands,
)
from controller.services.lms import LmsLink
from controller.services.runtime import Runtime
from controller.store.schedule import ScheduleStore
from drivers.sip2.pool import Sip2Pool
from tests.conftest import FakeClock
from tests.fleet.conftest import BRANCH, KEY, fleet_settings
from tests.fleet.test_commands_apply import SCHEDULE, Door
from tests.helpers import add_member
from tests.mqtt_support import HANG_GUARD, Broker

COMMANDS, ACKS = f"openplus/{BRANCH}/commands", f"openplus/{BRANCH}/acks"


class Console:
    """The signing side, as the fleet console does it."""

    def __init__(self, tmp_path: Path, broker: Broker, clock: FakeClock) -> None:
        self.private_path, self.public_path = generate_keys(tmp_path / "keys")
        self.key = load_private_key(self.private_path)
        self.broker = broker
        self.clock = clock
        self.version = 0

    def payload(self, kind: str, body: dict[str, Any]) -> bytes:
        self.version += 1
        return encode(sign(new_envelope(kind, BRANCH, self.version, "anna", body, self.clock()), self.key))

    def send(self, payload: bytes) -> str:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-test-console")
        client.connect("127.0.0.1", self.broker.port)
        client.loop_start()
        try:
            client.publish(COMMANDS, payload, qos=1).wait_for_publish(HANG_GUARD)
        finally:
            client.disconnect()
            client.loop_stop()
        return str(json.loads(payload)["id"])

    def ack_of(self, command_id: str) -> dict[str, Any]:
        got = self.broker.messages.wait_until(
            lambda items: any(t == ACKS and p["command"] == command_id for t, p in items)
        )
        return next(p for t, p in got if t == ACKS and p["command"] == command_id)


@contextmanager
def branch_fleet(
    runtime: Runtime, broker: Broker, clock: FakeClock, door: Door, console: Console
) -> Iterator[FleetSubscriber]:
    settings = fleet_settings(broker, branch=BRANCH, command_key_file=console.public_path)
    publisher = FleetPublisher(runtime.db, settings, clock, BRANCH, KEY, version="9.9.9")
    subscriber = open_fleet_commands(runtime, settings, clock, BRANCH, door.hooks(), publisher.wake)
    publisher.start()
    subscriber.start()
    try:
        assert subscriber.connected.wait(HANG_GUARD), "the subscriber did not subscribe"
        yield subscriber
    finally:
        subscriber.stop(timeout=2.0)
        publisher.stop(timeout=2.0)


def audit_reasons(runtime: Runtime) -> list[str]:
    with closing(runtime.connection()) as conn:
        return [
            r[0] for r in conn.execute("SELECT reason FROM events WHERE type = 'admin_change' ORDER BY id")
        ]


def test_a_signed_schedule_is_applied_and_acknowledged(
    runtime: Runtime, broker: Broker, clock: FakeClock, tmp_path: Path
) -> None:
    console, door = Console(tmp_path, broker, clock), Door()
    with branch_fleet(runtime, broker, clock, door, console):
        ack = console.ack_of(console.send(console.payload("schedule", SCHEDULE)))
    assert ack["status"] == "applied" and ack["branch"] == BRANCH and ack["version"] == 1
    with closing(runtime.connection()) as conn:
        assert ScheduleStore(conn).load().updated_by == "fleet:anna"
    assert len(door.schedules) == 1 and "fleet_command_applied" in audit_reasons(runtime)


def test_every_kind_is_applied(runtime: Runtime, broker: Broker, clock: FakeClock, tmp_path: Path) -> None:
    add_member(runtime, 1)
    add_member(runtime, 2)
    console, door = Console(tmp_path, broker, clock), Door()
    payloads = [
        console.payload("blocks", {"blocks": [{"patron": "P00001", "reason": "damage", "until": None}]}),
        console.payload("members", {"remove": ["P00002"]}),
        console.payload("rules", {"min_age": 16}),
        console.payload("unlock", {}),
    ]
    with branch_fleet(runtime, broker, clock, door, console):
        ids = [console.send(payload) for payload in payloads]
        statuses = [console.ack_of(command_id)["status"] for command_id in ids]
    assert statuses == ["applied"] * 4
    with closing(runtime.connection()) as conn:
        members = runtime.members(conn)
        p1 = members.get("P00001")
        assert p1 is not None and p1.entry_blocked and members.get("P00002") is None
    assert door.rules[0].min_age == 16 and door.unlocks == ["fleet:anna"]


def test_tampered_and_replayed_commands_are_refused_audited_and_alerted(
    runtime: Runtime, broker: Broker, clock: FakeClock, tmp_path: Path
) -> None:
    console, door = Console(tmp_path, broker, clock), Door()
    good = console.payload("unlock", {})
    tampered = json.loads(console.payload("unlock", {}))
    tampered["by"] = "console:mallory"
    with branch_fleet(runtime, broker, clock, door, console):
        assert console.ack_of(console.send(good))["status"] == "applied"
        console.broker.messages.items.clear()
        replay = console.ack_of(console.send(good))
        forged = console.ack_of(console.send(json.dumps(tampered).encode()))
    assert replay["status"] == "refused" and "stale or replayed" in replay["reason"]
    assert forged["status"] == "refused" and forged["reason"].startswith("bad signature")
    assert door.unlocks == ["fleet:anna"]
    assert audit_reasons(runtime).count("fleet_command_refused") == 2  # each is an alert (rules.py)


def test_a_controller_offline_when_a_command_was_sent_gets_it_on_reconnect(
    runtime: Runtime, broker: Broker, clock: FakeClock, tmp_path: Path
) -> None:
    console, door = Console(tmp_path, broker, clock), Door()
    with branch_fleet(runtime, broker, clock, door, console):
        pass  # the first connection makes the persistent session
    first = console.send(console.payload("schedule", SCHEDULE))
    second = console.send(console.payload("rules", {"min_age": 17}))
    clock.advance(hours=24)  # a day offline; the commands live 30 days
    with branch_fleet(runtime, broker, clock, door, console):
        assert console.ack_of(first)["status"] == "applied"
        assert console.ack_of(second)["status"] == "applied"
    assert len(door.schedules) == 1 and door.rules[0].min_age == 17


def test_an_unlock_arriving_after_it_expired_is_refused(
    runtime: Runtime, broker: Broker, clock: FakeClock, tmp_path: Path
) -> None:
    console, door = Console(tmp_path, broker, clock), Door()
    with branch_fleet(runtime, broker, clock, door, console):
        pass
    late = console.send(console.payload("unlock", {}))
    clock.advance(minutes=3)
    with branch_fleet(runtime, broker, clock, door, console):
        ack = console.ack_of(late)
    assert ack["status"] == "refused" and "expired" in ack["reason"] and door.unlocks == []


def test_a_restart_keeps_refusing_replays(
    settings: Settings, broker: Broker, clock: FakeClock, tmp_path: Path
) -> None:
    console = Console(tmp_path, broker, clock)
    payload = console.payload("schedule", SCHEDULE)
    with branch_fleet(Runtime.open(settings, clock=clock), broker, clock, Door(), console):
        assert console.ack_of(console.send(payload))["status"] == "applied"
    broker.messages.items.clear()
    restarted = Door()
    with branch_fleet(Runtime.open(settings, clock=clock), broker, clock, restarted, console):
        ack = console.ack_of(console.send(payload))
    assert ack["status"] == "refused" and "already applied version 1" in ack["reason"]
    assert restarted.schedules == []


def test_the_state_message_names_the_last_lms_contact(
    runtime: Runtime, broker: Broker, clock: FakeClock, tmp_path: Path
) -> None:
    link = LmsLink(
        cast(Sip2Pool, None),
        timeout=1.0,
        deliver=lambda answer: None,
        events=lambda event: None,
        clock=clock,
        door="front",
    )
    assert link.last_contact is None
    link.note_link(True)  # an answer, or the pool holding a live connection
    door = SimpleNamespace(
        lms=SimpleNamespace(link=link, decider=SimpleNamespace(replace_rules=lambda rules: None)),
        snapshot=lambda: None,
        schedule_changed=lambda schedule: None,
        remote_unlock=lambda actor: None,
    )
    settings = fleet_settings(broker, branch=BRANCH)
    fleet = open_branch_fleet(runtime, settings, clock, "front", cast(FleetDoor, door))
    assert fleet is not None
    fleet.start()
    try:
        got = broker.messages.wait_until(lambda items: any(t == f"openplus/{BRANCH}/state" for t, _ in items))
    finally:
        fleet.stop(timeout=2.0)
    state = next(p for t, p in got if t == f"openplus/{BRANCH}/state")
    assert state["last_lms_contact"] == "2026-06-10T12:00:00Z"


def test_a_branch_without_a_command_key_says_so_once(
    runtime: Runtime, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="controller.services.fleet.subscriber"):
        open_fleet_commands(runtime, FleetSettings(enabled=True), clock, BRANCH, Door().hooks())
    assert caplog.text.count("no [fleet] command_key_file; every command will be refused") == 1


def test_a_fleet_schedule_waits_for_a_moment_between_members_as_the_door_link_does() -> None:
    """The recompute shares the GIL with the door loop (BranchService.between_members)."""
    steps: list[str] = []
    door = SimpleNamespace(
        lms=None,
        snapshot=lambda: None,
        between_members=lambda: steps.append("between members"),
        schedule_changed=lambda schedule: steps.append("applied"),
        remote_unlock=lambda actor: None,
    )
    door_hooks(cast(FleetDoor, door)).schedule_changed(SCHEDULE)
    assert steps == ["between members", "applied"]
