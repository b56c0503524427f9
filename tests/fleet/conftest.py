"""The fleet tests' pieces: a broker that survives restarts, a door database, a publisher on
an injected clock, events written as the door writes them, and a second subscriber."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.config.fleet import FleetSettings
from controller.domain.events import Event, EventType
from controller.services.fleet.publisher import FleetPublisher
from controller.sim.fleet import SimFleet
from controller.store.db import Database
from controller.store.events import EventLog
from fleet_console.service.runtime import ConsoleRuntime
from tests.conftest import FakeClock
from tests.fleet_console.conftest import started_console
from tests.mqtt_support import HANG_GUARD, Broker, mosquitto_binary

BRANCH = "assen"
KEY = b"k" * 32
START = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fleet_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto with persistence and a persistent subscriber: it can be stopped mid-burst and
    started again on the same port without the subscriber losing what was queued for it."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; ./dev installs it)")
    peer = Broker(binary, tmp_path, persistent=True)
    peer.start()
    peer.subscribe()
    yield peer
    peer.stop()


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "door.db")


def fleet_settings(broker: Broker, **values: Any) -> FleetSettings:
    return FleetSettings(
        enabled=True, host="127.0.0.1", port=broker.port, tls=False, reconnect_max_seconds=0.2, **values
    )


def publisher(db: Database, broker: Broker, clock: FakeClock, **hooks: Any) -> FleetPublisher:
    return FleetPublisher(db, fleet_settings(broker), clock, BRANCH, KEY, version="9.9.9", **hooks)


def write_events(
    db: Database, clock: FakeClock, count: int, *, after: Callable[[], None] = lambda: None
) -> list[int]:
    """`count` granted entries as the door writes them; their event ids."""
    ids = []
    with closing(db.connect()) as conn:
        log = EventLog(conn)
        for n in range(count):
            ids.append(
                log.record(
                    Event(
                        type=EventType.ACCESS_GRANTED,
                        at=clock(),
                        door="front",
                        reason="member",
                        member_ref=f"P{n:05d}",
                        card_hint="…1234",
                        detail="openplus",
                    )
                )
            )
            after()
    return ids


def event_ids(messages: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [payload["id"] for topic, payload in messages if topic.endswith("/events")]


def retained_state(broker: Broker, topic: str) -> dict[str, Any]:
    """What a subscriber connecting now gets on `topic` (the retained message)."""
    got: list[dict[str, Any]] = []
    arrived = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            got.append(json.loads(message.payload))
            arrived.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-test-late-subscriber")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert arrived.wait(HANG_GUARD), f"no retained message on {topic}"
        return got[0]
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def sim_fleet(tmp_path: Path, fleet_broker: Broker, clock: FakeClock) -> Iterator[Callable[..., SimFleet]]:
    """`sim_fleet(50)`: that many simulated controllers (controller/sim/fleet.py) started
    against `fleet_broker` on the test's clock, each connected; all stopped at the end.
    `command_key`: the fleet's public key they accept commands signed by."""
    started: list[SimFleet] = []

    def start(count: int, *, command_key: Path | None = None, **options: Any) -> SimFleet:
        settings = fleet_settings(fleet_broker, command_key_file=command_key)
        fleet = SimFleet(tmp_path / f"fleet{len(started)}", count, settings, clock, **options)
        started.append(fleet)
        fleet.start()
        assert fleet.wait_connected(HANG_GUARD), f"{fleet.connected()} of {count} controllers connected"
        return fleet

    yield start
    for fleet in started:
        fleet.stop()


@pytest.fixture
def fleet_console(tmp_path: Path, fleet_broker: Broker, clock: FakeClock) -> Iterator[ConsoleRuntime]:
    """The fleet console (fleet_console/: its own database, a fresh fleet key pair in
    tmp_path/keys, its link subscribed to `fleet_broker` with a persistent session)."""
    with started_console(tmp_path, clock, fleet_broker.port) as console:
        yield console
