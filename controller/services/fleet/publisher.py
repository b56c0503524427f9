"""The fleet publisher: one thread that fills the outbox and publishes it to the MQTT broker.

Why one thread driving paho's `loop()` itself (not `loop_start()`): paho's callbacks then run
here, so the PUBACKs are written to the database on this thread's connection, with no locks.

- Events go out at QoS 1, at most WINDOW unacknowledged at a time; a row is marked sent only
  once the broker's PUBACK came. A broken connection drops the client with everything in
  flight; the next connection (after a growing wait, at most [fleet] reconnect_max_seconds)
  sends every unsent row again from the oldest. A message whose PUBACK was lost may so reach a
  subscriber twice: its `id` (<branch>/<event id>) is the same, and the receiver drops it.
- The state is published retained on each connection and whenever it changes; the last will
  (retained `offline` on the same topic) is the broker's to send when this controller vanishes.
  A clean stop publishes `offline` itself and disconnects.
- A heartbeat every heartbeat_seconds on the injected clock, with `acked_seq`.
- A console's `resend` (applied by the command subscriber) puts sent rows back in the queue,
  below what this client was handed: a wake looks for such rows and starts again from the
  oldest unsent one that is not in flight; the rows keep their ids and seqs.

The door never waits for any of this: the event writer only sets a flag (`wake()`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from controller.config.fleet import FleetSettings
from controller.domain.clock import Clock
from controller.services.backup import app_version
from controller.services.broker_client import Reconnect, broker_client, drop_connection
from controller.services.fleet.messages import (
    DoorState,
    Topics,
    heartbeat_message,
    offline_message,
    state_message,
)
from controller.services.fleet.outbox import OutboxFiller
from controller.services.privacy import pseudonym_key
from controller.services.runtime import Runtime
from controller.store.db import Database, transaction
from controller.store.fleet_outbox import FleetOutbox

log = logging.getLogger(__name__)

QOS = 1
WINDOW = 100  # events in flight (published, PUBACK not yet come)
LOOP_SECONDS = 0.05  # the longest a pass waits for the network before looking at the rest
FILL_SECONDS = 1.0  # events written by other processes are seen this fast


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


class FleetPublisher:
    """Started and stopped by the door process; `wake()` after an event was written."""

    def __init__(
        self,
        db: Database,
        settings: FleetSettings,
        clock: Clock,
        branch: str,
        key: bytes,
        *,
        version: str,
        state: Callable[[], DoorState | None] = lambda: None,
        lms_contact: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self.topics = Topics(settings.topic_prefix, branch)
        self._filler = OutboxFiller(self.topics, key, clock, settings.keep_sent_days)
        self._version = version
        self._state = state
        self._lms_contact = lms_contact
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._clean_stop = True
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._session = False  # CONNACK accepted on the current client
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._acked: list[int] = []
        self._handed_up_to = 0  # the last outbox row id given to the current client
        self._look_back = False  # a wake: rows below _handed_up_to may have been put back
        self._published_state: str | None = None
        self._next_heartbeat: datetime | None = None
        self._reconnect = Reconnect(settings.reconnect_max_seconds)
        self.connected = threading.Event()  # set while a session is up (tests, health)
        self.sent = 0  # events acknowledged by the broker since start

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._filler.begin(self._db)  # here, so events written from now on are all sent
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="fleet-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float, *, clean: bool = True) -> None:
        """Clean: `offline` is published and the session closed. Not clean (a power cut, for
        the tests): the socket is dropped without a word, and the broker sends the last will."""
        self._clean_stop = clean
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """New events were written (called on the event writer's thread)."""
        self._wake.set()

    # --- the thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        conn = self._db.connect()
        filled_at = 0.0
        try:
            while not self._stopping.is_set():
                if self._wake.is_set() or time.monotonic() - filled_at >= FILL_SECONDS:
                    self._wake.clear()
                    filled_at = time.monotonic()
                    self._guarded(lambda: self._filler.fill_once(conn), "fill the outbox")
                    self._look_back = True
                if self._client is None and self._reconnect.due():
                    self._connect()
                if self._client is not None:
                    self._guarded(lambda: self._pass(conn), "publish")
                else:
                    self._wake.wait(min(FILL_SECONDS, self._reconnect.seconds_left()))
        finally:
            self._close(conn)
            conn.close()

    @staticmethod
    def _guarded(step: Callable[[], object], what: str) -> None:
        try:
            step()
        except sqlite3.Error as exc:  # locked or full: nothing moved, again on the next pass
            log.warning("fleet could not %s (%s); trying again", what, exc)
        except Exception:
            log.exception("fleet could not %s; going on", what)

    def _connect(self) -> None:
        s = self._settings
        client = broker_client(s, f"openplus-door-{self.topics.branch}")
        client.max_inflight_messages_set(WINDOW)
        client.max_queued_messages_set(0)
        client.will_set(self.topics.state, _json(offline_message(self.topics.branch)), qos=QOS, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        try:
            client.connect(s.host, s.port, keepalive=s.keepalive_seconds)
        except (OSError, ValueError) as exc:
            self._retry_later(f"broker {s.host}:{s.port} not reached: {exc}")
            return
        self._client = client
        self._session = False

    def _retry_later(self, why: str) -> None:
        log.warning("fleet: %s; again in %.1f s", why, self._reconnect.later())

    def _drop(self, why: str) -> None:
        """The connection is gone: forget the client and what was in flight (still unsent)."""
        client, self._client = self._client, None
        if client is not None:
            drop_connection(client)
        self._session = False
        self.connected.clear()
        self._inflight.clear()
        self._handed_up_to = 0
        self._published_state = None
        self._retry_later(why)

    # --- paho's callbacks (on this thread, inside client.loop) -----------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: Any, properties: object
    ) -> None:
        if reason.is_failure:
            self._drop(f"broker refused the connection ({reason})")
            return
        log.info("fleet: connected to %s:%d", self._settings.host, self._settings.port)
        self._session = True
        self._reconnect.connected()
        self._next_heartbeat = self._clock()
        self.connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: Any, properties: object
    ) -> None:
        if client is self._client:
            self._drop(f"connection lost ({reason})")

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: Any, properties: object
    ) -> None:
        row_id = self._inflight.pop(mid, None)
        if row_id is not None:
            self._acked.append(row_id)

    # --- a pass while connected -----------------------------------------------------------------
    def _pass(self, conn: sqlite3.Connection) -> None:
        client = self._client
        assert client is not None
        if self._session:
            self._publish_state(client)
            self._publish_events(client, conn)
            self._heartbeat(client, conn)
        rc = client.loop(timeout=LOOP_SECONDS)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and client is self._client:
            self._drop(f"connection lost ({mqtt.error_string(rc)})")
        self._mark_acked(conn)

    def _mark_acked(self, conn: sqlite3.Connection) -> None:
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        try:
            with transaction(conn):
                FleetOutbox(conn).mark_sent(acked, self._clock())
        except sqlite3.Error:
            self._acked = acked + self._acked  # still acknowledged: marked on the next pass
            raise
        self.sent += len(acked)

    def _publish_events(self, client: mqtt.Client, conn: sqlite3.Connection) -> None:
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        box = FleetOutbox(conn)
        busy = set(self._inflight.values()) | set(self._acked)  # handed, not yet marked sent
        after = self._handed_up_to
        if self._look_back:
            self._look_back = False
            if box.unsent_up_to(after) > len(busy):  # a resend put rows back: from the oldest
                after = 0
        for row in box.unsent(after, room + len(busy)):
            if row.id in busy:
                continue
            if room <= 0:
                break
            info = client.publish(row.topic, row.payload, qos=QOS)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return  # not connected after all: loop() will say so
            room -= 1
            self._inflight[info.mid] = row.id
            self._handed_up_to = row.id

    def _publish_state(self, client: mqtt.Client) -> None:
        payload = _json(state_message(self.topics.branch, self._state(), self._version, self._lms_contact()))
        if payload != self._published_state:
            info = client.publish(self.topics.state, payload, qos=QOS, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._published_state = payload

    def _heartbeat(self, client: mqtt.Client, conn: sqlite3.Connection) -> None:
        now = self._clock()
        if self._next_heartbeat is None or now < self._next_heartbeat:
            return
        box = FleetOutbox(conn)
        message = heartbeat_message(self.topics.branch, now, box.waiting(), box.acked_through())
        client.publish(self.topics.heartbeat, _json(message), qos=0)
        self._next_heartbeat = now + timedelta(seconds=self._settings.heartbeat_seconds)

    def _close(self, conn: sqlite3.Connection) -> None:
        """On stop: a clean goodbye (offline, retained, acknowledged) or none at all."""
        client = self._client
        if client is None:
            return
        if self._clean_stop and self._session:
            info = client.publish(
                self.topics.state, _json(offline_message(self.topics.branch)), qos=QOS, retain=True
            )
            deadline = time.monotonic() + 1.0
            while not info.is_published() and time.monotonic() < deadline:
                if client.loop(timeout=LOOP_SECONDS) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            self._guarded(lambda: self._mark_acked(conn), "mark acknowledged events")
            client.on_disconnect = None  # our own goodbye, not a lost connection to log
            client.disconnect()
        else:
            sock = client.socket()
            if sock is not None:
                sock.close()  # no DISCONNECT: the broker publishes the last will
        self._client = None
        self.connected.clear()


def open_fleet(
    runtime: Runtime,
    settings: FleetSettings,
    clock: Clock,
    door: str,
    *,
    state: Callable[[], DoorState | None] = lambda: None,
    lms_contact: Callable[[], datetime | None] = lambda: None,
) -> FleetPublisher | None:
    """The door process's publisher when [fleet] is enabled (branch id: [fleet] branch, else
    the door's name); None when it is not."""
    if not settings.enabled:
        return None
    return FleetPublisher(
        runtime.db,
        settings,
        clock,
        settings.branch or door,
        pseudonym_key(runtime.hasher),
        version=app_version(),
        state=state,
        lms_contact=lms_contact,
    )
