"""The alert tables: alerts raised from events, their deliveries per channel, the watch's cursor.

A delivery row is the persisted queue: it stays until its channel took the alert or its
expiry passed, so undelivered alerts survive a restart and a channel that is down only ever
delays its own rows. Each thread (the watch, one sender per channel, a web request) uses its
own connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from controller.store.codec import from_ms, from_ms_or_none, to_ms
from controller.store.db import inserted_id

ERROR_MAX = 500  # characters of a channel's error kept on the delivery row


@dataclass(frozen=True)
class AlertRow:
    id: int
    kind: str
    event_id: int | None
    door: str
    reason: str | None
    detail: str | None
    at: datetime
    repeats: int
    sent: bool
    acked_at: datetime | None
    acked_by: str | None


@dataclass(frozen=True)
class DeliveryRow:
    alert_id: int
    channel: str
    attempts: int
    next_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class EventRow:
    """An event as the watch reads it: only what the rules look at."""

    id: int
    at: datetime
    type: str
    door: str
    reason: str | None
    detail: str | None


_ALERT_COLUMNS = "id, kind, event_id, door, reason, detail, at_ms, repeats, sent, acked_ms, acked_by"


def _alert(row: sqlite3.Row) -> AlertRow:
    return AlertRow(
        id=row["id"],
        kind=row["kind"],
        event_id=row["event_id"],
        door=row["door"],
        reason=row["reason"],
        detail=row["detail"],
        at=from_ms(row["at_ms"]),
        repeats=row["repeats"],
        sent=bool(row["sent"]),
        acked_at=from_ms_or_none(row["acked_ms"]),
        acked_by=row["acked_by"],
    )


class AlertStore:
    """Reads and writes alerts on one connection; the caller owns the transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- the watch: events in, alerts out ---------------------------------------------------
    def last_event_id(self) -> int:
        row = self._conn.execute("SELECT last_event_id FROM alert_watch WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def set_last_event_id(self, event_id: int) -> None:
        self._conn.execute(
            "INSERT INTO alert_watch (id, last_event_id) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET last_event_id = excluded.last_event_id",
            (event_id,),
        )

    def events_after(self, event_id: int, limit: int) -> list[EventRow]:
        rows = self._conn.execute(
            "SELECT id, ts_ms, type, door, reason, detail FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (event_id, limit),
        ).fetchall()
        return [
            EventRow(
                id=r["id"],
                at=from_ms(r["ts_ms"]),
                type=r["type"],
                door=r["door"],
                reason=r["reason"],
                detail=r["detail"],
            )
            for r in rows
        ]

    def service_reason_before(self, event_id: int) -> str | None:
        """The reason of the last start or stop `service` event before `event_id`."""
        row = self._conn.execute(
            "SELECT reason FROM events WHERE type = 'service' AND reason IN ('started', 'stopped') "
            "AND id < ? ORDER BY id DESC LIMIT 1",
            (event_id,),
        ).fetchone()
        return None if row is None else row["reason"]

    def event_time_before(self, event_id: int) -> datetime | None:
        """When the last event before `event_id` happened (how long an outage lasted)."""
        row = self._conn.execute(
            "SELECT ts_ms FROM events WHERE id < ? ORDER BY id DESC LIMIT 1", (event_id,)
        ).fetchone()
        return None if row is None else from_ms(row["ts_ms"])

    def last_sent_of_kind(self, kind: str) -> AlertRow | None:
        row = self._conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE kind = ? AND sent = 1 "
            "ORDER BY at_ms DESC, id DESC LIMIT 1",
            (kind,),
        ).fetchone()
        return None if row is None else _alert(row)

    def add(
        self,
        *,
        kind: str,
        event_id: int | None,
        door: str,
        reason: str | None,
        detail: str | None,
        at: datetime,
        sent: bool,
    ) -> int:
        return inserted_id(
            self._conn.execute(
                "INSERT INTO alerts (kind, event_id, door, reason, detail, at_ms, sent) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, event_id, door, reason, detail, to_ms(at), int(sent)),
            )
        )

    def add_repeat(self, alert_id: int) -> None:
        self._conn.execute("UPDATE alerts SET repeats = repeats + 1 WHERE id = ?", (alert_id,))

    def queue(self, alert_id: int, channel: str, first_try: datetime, expires: datetime) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO alert_deliveries (alert_id, channel, next_ms, expires_ms) "
            "VALUES (?, ?, ?, ?)",
            (alert_id, channel, to_ms(first_try), to_ms(expires)),
        )

    # --- a sender: one channel's due deliveries ----------------------------------------------
    def due(self, channel: str, now: datetime, limit: int = 20) -> list[DeliveryRow]:
        rows = self._conn.execute(
            "SELECT alert_id, channel, attempts, next_ms, expires_ms FROM alert_deliveries "
            "WHERE channel = ? AND delivered_ms IS NULL AND given_up_ms IS NULL AND next_ms <= ? "
            "ORDER BY next_ms, alert_id LIMIT ?",
            (channel, to_ms(now), limit),
        ).fetchall()
        return [
            DeliveryRow(
                alert_id=r["alert_id"],
                channel=r["channel"],
                attempts=r["attempts"],
                next_at=from_ms(r["next_ms"]),
                expires_at=from_ms(r["expires_ms"]),
            )
            for r in rows
        ]

    def next_due(self, channel: str) -> datetime | None:
        """When the channel's earliest waiting delivery may be tried (None: nothing waits)."""
        row = self._conn.execute(
            "SELECT MIN(next_ms) FROM alert_deliveries WHERE channel = ? AND delivered_ms IS NULL "
            "AND given_up_ms IS NULL",
            (channel,),
        ).fetchone()
        return from_ms_or_none(row[0])

    def delivered(self, alert_id: int, channel: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE alert_deliveries SET delivered_ms = ?, attempts = attempts + 1, last_error = NULL "
            "WHERE alert_id = ? AND channel = ?",
            (to_ms(at), alert_id, channel),
        )

    def failed(self, alert_id: int, channel: str, error: str, next_try: datetime) -> None:
        self._conn.execute(
            "UPDATE alert_deliveries SET attempts = attempts + 1, next_ms = ?, last_error = ? "
            "WHERE alert_id = ? AND channel = ?",
            (to_ms(next_try), error[:ERROR_MAX], alert_id, channel),
        )

    def give_up(self, alert_id: int, channel: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE alert_deliveries SET given_up_ms = ? WHERE alert_id = ? AND channel = ?",
            (to_ms(at), alert_id, channel),
        )

    def waiting(self) -> int:
        """Deliveries not yet made nor given up, every channel (the queue's length)."""
        return int(
            self._conn.execute(
                "SELECT COUNT(*) FROM alert_deliveries WHERE delivered_ms IS NULL AND given_up_ms IS NULL"
            ).fetchone()[0]
        )

    def deliveries(self, alert_id: int) -> dict[str, tuple[bool, int, str | None]]:
        """channel -> (delivered, attempts, last error) for one alert."""
        rows = self._conn.execute(
            "SELECT channel, delivered_ms, attempts, last_error FROM alert_deliveries WHERE alert_id = ?",
            (alert_id,),
        ).fetchall()
        return {r["channel"]: (r["delivered_ms"] is not None, r["attempts"], r["last_error"]) for r in rows}

    # --- pages and the API ------------------------------------------------------------------
    def get(self, alert_id: int) -> AlertRow | None:
        row = self._conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return None if row is None else _alert(row)

    def open_alerts(self, limit: int = 50) -> list[AlertRow]:
        """Not acknowledged yet, newest first."""
        rows = self._conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE acked_ms IS NULL "
            "ORDER BY at_ms DESC, id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_alert(row) for row in rows]

    def count_open(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM alerts WHERE acked_ms IS NULL").fetchone()[0])

    def acknowledge(self, alert_id: int, actor: str, at: datetime) -> bool:
        """False when there is no such open alert (unknown, or acknowledged already)."""
        cursor = self._conn.execute(
            "UPDATE alerts SET acked_ms = ?, acked_by = ? WHERE id = ? AND acked_ms IS NULL",
            (to_ms(at), actor, alert_id),
        )
        return cursor.rowcount == 1
