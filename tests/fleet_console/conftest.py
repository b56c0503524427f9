"""The console tests' pieces: a real Mosquitto on loopback (tests/mqtt_support.py), a console
runtime on a temporary data directory with a fresh fleet key, and a branch-side publisher."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from argon2 import PasswordHasher
from paho.mqtt.enums import CallbackAPIVersion

from controller.services.fleet.commands import generate_keys
from controller.services.passwords import Passwords
from fleet_console.config import parse_console_settings
from fleet_console.service.runtime import ConsoleRuntime
from tests.conftest import FakeClock
from tests.mqtt_support import HANG_GUARD, Broker, mosquitto_binary

PREFIX = "openplus"
NOW = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)  # 12:00 in the branches
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def eventually(check: Callable[[], object], what: str) -> None:
    """Until `check()` is true, looking every 20 ms; the hang guard only when broken."""
    pause = threading.Event()
    for _ in range(int(HANG_GUARD / 0.02)):
        if check():
            return
        pause.wait(0.02)
    raise AssertionError(f"not within {HANG_GUARD} s: {what}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def quiet_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto without the test's '#' subscriber (which reads every payload as JSON, and the
    ingest tests publish what is not)."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; ./dev installs it)")
    peer = Broker(binary, tmp_path)
    peer.start()
    yield peer
    peer.stop()


def console_settings(port: int | None, key_file: Path | None) -> dict[str, Any]:
    raw: dict[str, Any] = {"console": {}, "broker": {"tls": False, "reconnect_max_seconds": 0.2}}
    if port is not None:
        raw["broker"].update(host="127.0.0.1", port=port)
    if key_file is not None:
        raw["console"]["key_file"] = str(key_file)
    return raw


def open_console(tmp_path: Path, clock: FakeClock, port: int | None) -> ConsoleRuntime:
    private, _public = generate_keys(tmp_path / "keys")
    settings = parse_console_settings(console_settings(port, private), "test")
    return ConsoleRuntime.open(settings, tmp_path / "console", clock, Passwords(CHEAP))


@contextmanager
def started_console(tmp_path: Path, clock: FakeClock, port: int) -> Iterator[ConsoleRuntime]:
    """A console with its link started and subscribed to the broker on `port`."""
    runtime = open_console(tmp_path, clock, port)
    link = runtime.start_link()
    try:
        assert link.subscribed.wait(HANG_GUARD), "the console did not subscribe"
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture
def console(tmp_path: Path, clock: FakeClock, quiet_broker: Broker) -> Iterator[ConsoleRuntime]:
    with started_console(tmp_path, clock, quiet_broker.port) as runtime:
        yield runtime


class BranchClient:
    """One branch's side of the broker, as far as the tests need it: publish raw payloads."""

    def __init__(self, port: int, name: str = "test-branch") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-console-test-{name}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any], *, retain: bool = False) -> None:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        info = self.client.publish(topic, data, qos=1, retain=retain)
        info.wait_for_publish(HANG_GUARD)
        assert info.is_published(), topic

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def branch_client(quiet_broker: Broker) -> Iterator[BranchClient]:
    client = BranchClient(quiet_broker.port)
    yield client
    client.close()
