"""A real Mosquitto broker for the tests (Debian's `mosquitto` on a free loopback port, started
by controller/sim/mosquitto.py, which bench/fleet.py uses too), a subscriber to every topic
collecting messages, and a wait that ends on a condition.

Moved here from tests/alerts/conftest.py so the alerts and the fleet tests share one broker;
the `broker` fixture is in tests/conftest.py. `persistent=True` (the fleet's outage tests)
gives the broker a persistence file and the subscriber a persistent session, so messages
queued for it survive the broker's stop (SIGTERM: Mosquitto saves on the way out) and restart.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Generic, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from controller.sim.mosquitto import Mosquitto, free_port, mosquitto_binary

__all__ = ["HANG_GUARD", "Broker", "Collector", "free_port", "mosquitto_binary"]

HANG_GUARD = 10.0  # seconds: only ever reached when something is broken

T = TypeVar("T")


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


class Broker(Mosquitto):
    """A real Mosquitto on loopback (controller/sim/mosquitto.py), and a subscriber to every
    topic collecting messages."""

    def __init__(self, binary: str, config_dir: Path, *, persistent: bool = False) -> None:
        super().__init__(binary, config_dir, persistent=persistent)
        self.messages: Collector[tuple[str, dict[str, Any]]] = Collector()
        self._subscriber: mqtt.Client | None = None
        self._subscribed = threading.Event()

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

    def stop_process(self, *, kill: bool = False) -> None:
        """The broker goes down (SIGTERM, or SIGKILL with `kill`: a crash); the subscriber
        stays and reconnects when it is back."""
        self._subscribed.clear()
        super().stop_process(kill=kill)

    def wait_resubscribed(self) -> None:
        assert self._subscribed.wait(HANG_GUARD), "the test subscriber did not come back"

    def stop(self) -> None:
        if self._subscriber is not None:
            self._subscriber.disconnect()
            self._subscriber.loop_stop()
            self._subscriber = None
        self.stop_process()
