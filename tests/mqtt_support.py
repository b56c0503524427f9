"""A real Mosquitto broker for the tests (Debian's `mosquitto`, started on a free loopback
port), a subscriber to every topic collecting messages, and a wait that ends on a condition.

Moved here from tests/alerts/conftest.py so the alerts and the fleet tests share one broker;
the `broker` fixture is in tests/conftest.py. `persistent=True` (the fleet's outage tests)
gives the broker a persistence file and the subscriber a persistent session, so messages
queued for it survive the broker's stop (SIGTERM: Mosquitto saves on the way out) and restart.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Generic, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

HANG_GUARD = 10.0  # seconds: only ever reached when something is broken

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Collector(Generic[T]):
    """What a peer received, with a wait that ends when enough arrived (or the hang guard)."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._cond = threading.Condition()

    def add(self, item: T) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = HANG_GUARD) -> list[T]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"{len(self.items)} of {count} arrived within {timeout} s")
            return list(self.items)

    def wait_until(self, check: Any, timeout: float = HANG_GUARD) -> list[T]:
        """Wait until `check(items)` is true."""
        with self._cond:
            if not self._cond.wait_for(lambda: check(self.items), timeout):
                raise AssertionError(f"not there within {timeout} s: {self.items[-5:]}")
            return list(self.items)


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")


class Broker:
    """A real Mosquitto on loopback, and a subscriber to every topic collecting messages."""

    def __init__(self, binary: str, config_dir: Path, *, persistent: bool = False) -> None:
        self.binary = binary
        self.port = free_port()
        self.persistent = persistent
        self.config = config_dir / "mosquitto.conf"
        # `user`: started as root Mosquitto would drop to the user 'mosquitto', which cannot
        # write its persistence file into the test's directory.
        persistence = (
            f"persistence true\npersistence_location {config_dir}/\n"
            f"user {getpass.getuser()}\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
            if persistent
            else "persistence false\n"
        )
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n" + persistence, encoding="utf-8"
        )
        self.messages: Collector[tuple[str, dict[str, Any]]] = Collector()
        self._process: subprocess.Popen[bytes] | None = None
        self._subscriber: mqtt.Client | None = None
        self._subscribed = threading.Event()

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + HANG_GUARD
        while True:  # until it listens (a condition, not a pause: each try is a connect)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise AssertionError("mosquitto did not start listening") from None
                self._stopped_wait(0.05)

    def _stopped_wait(self, seconds: float) -> None:
        assert self._process is not None
        try:
            self._process.wait(seconds)
        except subprocess.TimeoutExpired:
            pass

    def subscribe(self) -> None:
        """Subscribe to '#' and wait until the broker confirmed it. A persistent subscriber
        reconnects by itself after the broker's restart and gets what was queued for it."""
        self._subscribed.clear()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="alerts-test-subscriber", clean_session=not self.persistent
        )
        client.reconnect_delay_set(0.05, 0.2)
        client.on_connect = lambda c, u, f, rc, p: c.subscribe("#", qos=1)
        client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        client.on_message = lambda c, u, m: self.messages.add((m.topic, json.loads(m.payload)))
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        self._subscriber = client
        assert self._subscribed.wait(HANG_GUARD), "the test subscriber was not subscribed"

    def stop_process(self) -> None:
        """The broker goes down (SIGTERM); the subscriber stays and reconnects when it is back."""
        if self._process is not None:
            self._subscribed.clear()
            self._process.terminate()
            self._process.wait(HANG_GUARD)
            self._process = None

    def wait_resubscribed(self) -> None:
        assert self._subscribed.wait(HANG_GUARD), "the test subscriber did not come back"

    def stop(self) -> None:
        if self._subscriber is not None:
            self._subscriber.disconnect()
            self._subscriber.loop_stop()
            self._subscriber = None
        self.stop_process()
