"""The console's one connection to the broker, on its own thread: subscribed to every branch,
publishing the commands waiting in the database.

Like the branch's publisher (controller/services/fleet/publisher.py) the thread drives paho's
`loop()` itself, so every callback runs here and writes on this thread's own connection. The
session is persistent (clean_session off, a fixed client id): events and acks the branches sent
while the console was down are delivered when it connects again. A command target is marked
published only on the broker's PUBACK; after a broken connection everything not yet marked is
published again (a branch refuses the second copy as replayed; its first ack stands).

The web side never waits on the broker: sending stores the signed envelopes and calls `wake()`.
Every CHECK_SECONDS the thread also looks for messages a branch sent that never came
(service/gaps.py) and asks for them again, signed with the console's key.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import MQTTErrorCode

from controller.domain.clock import Clock
from controller.services.broker_client import Reconnect, broker_client, drop_connection
from controller.store.db import Database, transaction
from fleet_console.config import BrokerSettings
from fleet_console.service.gaps import CHECK_SECONDS, GAP_GRACE, check_gaps
from fleet_console.service.ingest import Ingest, purge_old_events
from fleet_console.store.commands import CommandStore

log = logging.getLogger(__name__)

QOS = 1
WINDOW = 100  # command envelopes in flight
LOOP_SECONDS = 0.05
IDLE_SECONDS = 1.0  # unpublished commands written by another process are seen this fast
PURGE_SECONDS = 3600.0  # old events are deleted this often
SUBSCRIPTIONS = (("state", 1), ("heartbeat", 0), ("events", 1), ("acks", 1))


class FleetLink:
    def __init__(
        self,
        db: Database,
        settings: BrokerSettings,
        clock: Clock,
        keep_events_days: int = 90,
        *,
        key: Ed25519PrivateKey | None = None,
        gap_grace: timedelta = GAP_GRACE,
    ) -> None:
        self._db = db
        self._key = key  # signs the resends of missing messages
        self._gap_grace = gap_grace
        self._keep_events_days = keep_events_days
        self._settings = settings
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._ingest: Ingest | None = None
        self._inflight: dict[int, tuple[str, str]] = {}  # paho mid -> (command id, branch)
        self._handed: set[tuple[str, str]] = set()
        self._acked: list[tuple[str, str]] = []
        self._reconnect = Reconnect(settings.reconnect_max_seconds)
        self.subscribed = threading.Event()  # set while subscribed (tests, the overview)

    def topic(self, branch: str, leaf: str) -> str:
        return f"{self._settings.topic_prefix}/{branch}/{leaf}"

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="fleet-console-link", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Commands were stored: publish them now (called on a web request's thread)."""
        self._wake.set()

    # --- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        conn = self._db.connect()
        self._ingest = Ingest(conn, self._settings.topic_prefix, self._clock)
        purged_at = -PURGE_SECONDS
        checked_at = time.monotonic()
        try:
            while not self._stopping.is_set():
                if time.monotonic() - purged_at >= PURGE_SECONDS:
                    purged_at = time.monotonic()
                    self._guarded(
                        lambda: purge_old_events(conn, self._clock, self._keep_events_days),
                        "purge old events",
                    )
                if time.monotonic() - checked_at >= CHECK_SECONDS:
                    checked_at = time.monotonic()
                    self._guarded(self._check_gaps(conn), "look for missing messages")
                if self._client is None and self._reconnect.due():
                    self._connect()
                if self._client is not None:
                    self._guarded(lambda: self._pass(conn), "talk to the broker")
                else:
                    self._wake.wait(min(IDLE_SECONDS, self._reconnect.seconds_left()))
        finally:
            if self._client is not None:
                self._client.on_disconnect = None
                self._client.disconnect()
                self._client = None
            conn.close()

    def _check_gaps(self, conn: sqlite3.Connection) -> Callable[[], object]:
        def check() -> None:
            if check_gaps(conn, self._clock, self._key, self._gap_grace):
                self._wake.set()  # the resends are stored: publish them on this pass

        return check

    @staticmethod
    def _guarded(step: Callable[[], object], what: str) -> None:
        try:
            step()
        except sqlite3.Error as exc:
            log.warning("fleet console could not %s (%s); trying again", what, exc)
        except Exception:
            log.exception("fleet console could not %s; going on", what)

    def _connect(self) -> None:
        s = self._settings
        client = broker_client(s, s.client_id, clean_session=False)
        client.max_inflight_messages_set(WINDOW)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = lambda c, u, mid, codes, p: self.subscribed.set()
        try:
            client.connect(s.host, s.port, keepalive=s.keepalive_seconds)
        except (OSError, ValueError) as exc:
            self._retry_later(f"broker {s.host}:{s.port} not reached: {exc}")
            return
        self._client = client

    def _retry_later(self, why: str) -> None:
        log.warning("fleet console: %s; again in %.1f s", why, self._reconnect.later())

    def _drop(self, why: str) -> None:
        client, self._client = self._client, None
        if client is not None:
            drop_connection(client)
        self.subscribed.clear()
        self._inflight.clear()
        self._handed.clear()
        self._retry_later(why)

    # --- paho's callbacks (on this thread) --------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: Any, props: object
    ) -> None:
        if reason.is_failure:
            self._drop(f"broker refused the connection ({reason})")
            return
        log.info("fleet console: connected to %s:%d", self._settings.host, self._settings.port)
        self._reconnect.connected()
        client.subscribe([(self.topic("+", leaf), qos) for leaf, qos in SUBSCRIPTIONS])

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: Any, props: object
    ) -> None:
        if client is self._client:
            self._drop(f"connection lost ({reason})")

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: Any, props: object
    ) -> None:
        target = self._inflight.pop(mid, None)
        if target is not None:
            self._acked.append(target)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        ingest = self._ingest
        if ingest is not None:  # Ingest.handle never raises for what a message holds
            self._guarded(lambda: ingest.handle(message.topic, message.payload), "ingest a message")

    # --- a pass while connected -------------------------------------------------------------
    def _pass(self, conn: sqlite3.Connection) -> None:
        client = self._client
        assert client is not None
        if self.subscribed.is_set():
            self._publish_commands(client, conn)
        rc = client.loop(timeout=LOOP_SECONDS)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and client is self._client:
            self._drop(f"connection lost ({mqtt.error_string(rc)})")
        self._wake.clear()
        self._mark_published(conn)

    def _publish_commands(self, client: mqtt.Client, conn: sqlite3.Connection) -> None:
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        for target in CommandStore(conn).unpublished(room + len(self._handed)):
            key = (target.command_id, target.branch)
            if key in self._handed or key in self._acked:
                continue
            info = client.publish(self.topic(target.branch, "commands"), target.payload, qos=QOS)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
            self._inflight[info.mid] = key
            self._handed.add(key)

    def _mark_published(self, conn: sqlite3.Connection) -> None:
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        try:
            with transaction(conn):
                CommandStore(conn).mark_published(acked, self._clock())
        except sqlite3.Error:
            self._acked = acked + self._acked
            raise
        self._handed.difference_update(acked)
