"""The alert watch: reads new events from the database and turns those that matter into alerts.

Why it reads the event table rather than hooking the writers: events reach the database from
three places, the door's EventWriter, the camera's footage pump (camera and disk faults) and
the web process (sign-in paused), and only the table sees all of them. The watch keeps the id
of the last event it read in the database, in the same transaction as the alerts it raised,
so after a crash or restart it goes on where it stopped: no event is alerted twice or missed.
It runs on its own thread with its own connection; the door's EventWriter only wakes it
(`wake()`, setting a flag) after a write, so the door's alerts go out at once and nobody waits.

It also watches the door loop: a loop that has not turned for loop_late_seconds (it turns
every 0.5 s at the least) is logged as a `service` event `door_loop_late`, once until it turns
on time again, and that event becomes an alert like any other.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta

from controller.config.alerts import AlertKind, AlertSettings
from controller.domain.clock import Clock, to_local
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.services.alerts.rules import LOOP_LATE_REASON, decide, kind_of
from controller.store.alerts import AlertStore, EventRow
from controller.store.db import Database, transaction

log = logging.getLogger(__name__)

BATCH = 500  # events read per transaction
POLL_SECONDS = 1.0  # events written elsewhere (web process, camera pump) are seen this fast


class AlertWatch:
    """`poll_once(conn)` raises the alerts of the events written since the last call."""

    def __init__(
        self,
        db: Database,
        settings: AlertSettings,
        clock: Clock,
        door: str,
        *,
        mode_now: Callable[[], DoorMode | None] = lambda: None,
        loop_age: Callable[[], float] | None = None,
        record: Callable[[Event], object] | None = None,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._door = door
        self._mode_now = mode_now
        self._loop_age = loop_age
        self._record = record
        self._on_queued = on_queued
        self._loop_late = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.raised = 0
        self.queue_length: int | None = None  # deliveries waiting, as of the last pass (metrics)

    def poll_once(self, conn: sqlite3.Connection) -> list[int]:
        """Read every event after the cursor; the ids of the alerts raised."""
        raised: list[int] = []
        queued = False
        while True:
            store = AlertStore(conn)
            with transaction(conn):
                events = store.events_after(store.last_event_id(), BATCH)
                for event in events:
                    alert = self._raise(store, event)
                    if alert is not None:
                        raised.append(alert[0])
                        queued = queued or alert[1]
                if events:
                    store.set_last_event_id(events[-1].id)
            if len(events) < BATCH:
                break
        self.raised += len(raised)
        self.queue_length = AlertStore(conn).waiting()
        if queued:
            self._on_queued()
        return raised

    def _raise(self, store: AlertStore, event: EventRow) -> tuple[int, bool] | None:
        kind = kind_of(event, lambda: store.service_reason_before(event.id))
        if kind is None:
            return None
        detail = event.detail
        if kind is AlertKind.CONTROLLER_BACK:
            since = store.event_time_before(event.id)
            if since is not None:
                detail = f"silent since {to_local(since).strftime('%Y-%m-%d %H:%M:%S')}"
        last = store.last_sent_of_kind(kind.value)
        verdict = decide(
            self._settings,
            kind,
            event.reason,
            event.at,
            self._mode_now(),
            last.at if last is not None else None,
        )
        if verdict.why_not == "rate limit" and last is not None:
            store.add_repeat(last.id)
            log.info("alert %s folded into alert %d (rate limit)", kind.value, last.id)
            return None
        alert_id = store.add(
            kind=kind.value,
            event_id=event.id,
            door=event.door,
            reason=event.reason,
            detail=detail,
            at=event.at,
            sent=bool(verdict.channels),
        )
        now = self._clock()
        expires = now + timedelta(hours=self._settings.expire_hours)
        for channel in verdict.channels:
            store.queue(alert_id, channel, now, expires)
        log.warning(
            "alert %d: %s (event %d)%s",
            alert_id,
            kind.value,
            event.id,
            f"; not sent: {verdict.why_not}" if verdict.why_not else "",
        )
        return alert_id, bool(verdict.channels)

    def check_loop(self) -> bool:
        """Log `door_loop_late` once when the door loop is late; True when it was logged now."""
        if self._loop_age is None or self._record is None:
            return False
        age = self._loop_age()
        if age < self._settings.loop_late_seconds:
            self._loop_late = False
            return False
        if self._loop_late:
            return False
        self._loop_late = True
        self._record(
            Event(
                type=EventType.SERVICE,
                at=self._clock(),
                door=self._door,
                reason=LOOP_LATE_REASON,
                detail=f"no turn for {age:.1f} s",
            )
        )
        log.error("door loop has not turned for %.1f s", age)
        return True

    # --- the thread -------------------------------------------------------------------------
    def wake(self) -> None:
        """New events were written: read them now (called on the event writer's thread)."""
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="alerts-watch", daemon=True)
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
                self._wake.clear()  # before reading: a wake-up during the pass means another
                try:
                    self.check_loop()
                    self.poll_once(conn)
                except sqlite3.Error as exc:  # locked or full: the cursor stays, read again later
                    log.warning("alert watch could not read events (%s); trying again", exc)
                except Exception:
                    log.exception("alert watch failed; going on")
                self._wake.wait(POLL_SECONDS)
        finally:
            conn.close()
