"""One thread per channel: sends that channel's due deliveries from the persisted queue.

Why a thread per channel: a mail server that takes its full timeout to fail must not hold up
the webhook or MQTT, nor the watch that turns events into alerts. A failed send is tried
again after an exponential backoff (retry_first_seconds, doubling, at most
retry_max_seconds) until it is delivered or its alert expires; times come from the injected
clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timedelta

from controller.config.alerts import AlertSettings
from controller.domain.clock import Clock
from controller.services.alerts.channels import AlertChannel, ChannelError
from controller.services.alerts.message import AlertMessage
from controller.store.alerts import AlertStore, DeliveryRow
from controller.store.db import Database

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 1.0  # a sender looks at the queue at least this often (real time)


def backoff(settings: AlertSettings, attempts: int) -> timedelta:
    """The pause after the `attempts`-th failed try: first, doubling, capped."""
    seconds = settings.retry_first_seconds * 2 ** min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.retry_max_seconds))


class ChannelSender:
    """`send_due()` does one pass (tests call it directly); `start()` runs passes on a thread."""

    def __init__(self, channel: AlertChannel, db: Database, settings: AlertSettings, clock: Clock) -> None:
        self.channel = channel
        self._db = db
        self._settings = settings
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False  # log a channel going down and coming back once, not every try
        self.sent = 0
        self.failures = 0

    def send_due(self, conn: sqlite3.Connection) -> int:
        """Send every delivery due now; the number delivered."""
        store = AlertStore(conn)
        delivered = 0
        for delivery in store.due(self.channel.name, self._clock()):
            if self._stopping.is_set():
                break
            delivered += self._send_one(store, delivery)
        return delivered

    def _send_one(self, store: AlertStore, delivery: DeliveryRow) -> int:
        now = self._clock()
        row = store.get(delivery.alert_id)
        if row is None:
            return 0  # deleted meanwhile (cascade removes the delivery too)
        if now >= delivery.expires_at:
            store.give_up(delivery.alert_id, self.channel.name, now)
            log.error(
                "alert %d (%s) not delivered by %s before it expired; given up",
                row.id,
                row.kind,
                self.channel.name,
            )
            return 0
        try:
            self.channel.send(AlertMessage.of(row))
        except ChannelError as exc:
            self._failed(store, delivery, str(exc))
            return 0
        except Exception as exc:  # a bug in a channel must not end its thread
            log.exception("alert channel %s failed unexpectedly", self.channel.name)
            self._failed(store, delivery, f"{type(exc).__name__}: {exc}")
            return 0
        store.delivered(delivery.alert_id, self.channel.name, self._clock())  # one statement
        if self._failing:
            log.warning("alert channel %s delivers again", self.channel.name)
            self._failing = False
        self.sent += 1
        return 1

    def _failed(self, store: AlertStore, delivery: DeliveryRow, error: str) -> None:
        self.failures += 1
        retry_at = self._clock() + backoff(self._settings, delivery.attempts + 1)
        store.failed(delivery.alert_id, self.channel.name, error, retry_at)
        if not self._failing:
            log.warning("alert channel %s down (%s); alerts wait in the queue", self.channel.name, error)
            self._failing = True

    # --- the thread -------------------------------------------------------------------------
    def wake(self) -> None:
        """A new delivery was queued, or time moved: look now, not at the next idle wait."""
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"alerts-{self.channel.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        conn = self._db.connect()
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before the pass: a wake-up during it means another
                try:
                    self.send_due(conn)
                except sqlite3.Error as exc:  # locked or full: the rows stay, try again later
                    log.warning("alert queue not read (%s); trying again", exc)
                self._wake.wait(self._idle_wait(conn))
        finally:
            conn.close()

    def _idle_wait(self, conn: sqlite3.Connection) -> float:
        try:
            due: datetime | None = AlertStore(conn).next_due(self.channel.name)
        except sqlite3.Error:
            return IDLE_WAIT_SECONDS
        if due is None:
            return IDLE_WAIT_SECONDS
        return min(max((due - self._clock()).total_seconds(), 0.01), IDLE_WAIT_SECONDS)
