"""The branches' events as the console received them: one row per message id (a resent message
is dropped), one log across branches, today's entries and the open alerts per branch."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from controller.domain.events import EventType
from controller.store.codec import from_ms, from_ms_or_none, to_ms

ENTRY_TYPE = EventType.ACCESS_GRANTED.value
# What staff should look at: the door forced or held open, signs of guessing, faults, the help
# button, the people counter's doubts, the library system lost. Open until a user closes it.
ALERT_TYPES = frozenset(
    {
        EventType.DOOR_FORCED.value,
        EventType.DOOR_HELD_OPEN.value,
        EventType.ALARM.value,
        EventType.READER_FAULT.value,
        EventType.CAMERA_FAULT.value,
        EventType.OUTPUT_FAULT.value,
        EventType.HELP_REQUESTED.value,
        EventType.TAILGATING.value,
        EventType.OCCUPIED_AT_CLOSING.value,
        EventType.SIGN_IN_PAUSED.value,
        "fleet_command_refused",
    }
)


def is_alert(event_type: str, reason: str | None) -> bool:
    return (
        event_type in ALERT_TYPES
        or (event_type == EventType.LMS_LINK.value and reason == "lms_lost")
        # A command the branch refused (bad signature, replay, ...) is its audit line, an
        # admin_change with this reason (services/fleet/apply_handler.REFUSED_REASON).
        or (event_type == EventType.ADMIN_CHANGE.value and reason == "fleet_command_refused")
    )


@dataclass(frozen=True)
class FleetEvent:
    msg_id: str
    branch: str
    at: datetime
    type: str
    door: str | None
    reason: str | None
    member: str | None
    card_hint: str | None
    detail: str | None
    alert: bool
    closed_at: datetime | None
    closed_by: str | None


def _row(row: sqlite3.Row) -> FleetEvent:
    return FleetEvent(
        msg_id=row["msg_id"],
        branch=row["branch"],
        at=from_ms(row["ts_ms"]),
        type=row["type"],
        door=row["door"],
        reason=row["reason"],
        member=row["member"],
        card_hint=row["card_hint"],
        detail=row["detail"],
        alert=bool(row["alert"]),
        closed_at=from_ms_or_none(row["closed_ms"]),
        closed_by=row["closed_by"],
    )


@dataclass(frozen=True)
class LogCursor:
    """Where a page of the log ended: the (time, message id) of its last row."""

    ts_ms: int
    msg_id: str


class FleetEventStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, event: FleetEvent, now: datetime) -> bool:
        """False when this message id is already there (a resend): nothing changes."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO fleet_events (msg_id, branch, ts_ms, type, door, reason, member, "
            "card_hint, detail, received_ms, alert) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.msg_id,
                event.branch,
                to_ms(event.at),
                event.type,
                event.door,
                event.reason,
                event.member,
                event.card_hint,
                event.detail,
                to_ms(now),
                int(event.alert),
            ),
        )
        return cursor.rowcount == 1

    def log(self, branches: list[str], limit: int, before: LogCursor | None = None) -> list[FleetEvent]:
        """Newest first, across all branches or only `branches`; keyset-paged by `before`."""
        where: list[str] = []
        params: list[object] = []
        if branches:
            where.append(f"branch IN ({','.join('?' * len(branches))})")
            params.extend(branches)
        if before is not None:
            where.append("(ts_ms < ? OR (ts_ms = ? AND msg_id < ?))")
            params.extend([before.ts_ms, before.ts_ms, before.msg_id])
        sql = "SELECT * FROM fleet_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts_ms DESC, msg_id DESC LIMIT ?"
        return [_row(r) for r in self._conn.execute(sql, (*params, limit))]

    def entries_since(self, since: datetime) -> dict[str, int]:
        """Granted entries per branch from `since` (the start of today)."""
        rows = self._conn.execute(
            "SELECT branch, COUNT(*) FROM fleet_events WHERE type = ? AND ts_ms >= ? GROUP BY branch",
            (ENTRY_TYPE, to_ms(since)),
        )
        return {branch: count for branch, count in rows}

    def open_alert_counts(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT branch, COUNT(*) FROM fleet_events WHERE alert = 1 AND closed_ms IS NULL GROUP BY branch"
        )
        return {branch: count for branch, count in rows}

    def open_alerts(self, limit: int) -> list[FleetEvent]:
        rows = self._conn.execute(
            "SELECT * FROM fleet_events WHERE alert = 1 AND closed_ms IS NULL ORDER BY ts_ms DESC LIMIT ?",
            (limit,),
        )
        return [_row(r) for r in rows]

    def close_alert(self, msg_id: str, by: str, now: datetime) -> bool:
        cursor = self._conn.execute(
            "UPDATE fleet_events SET closed_ms = ?, closed_by = ? "
            "WHERE msg_id = ? AND alert = 1 AND closed_ms IS NULL",
            (to_ms(now), by, msg_id),
        )
        return cursor.rowcount == 1

    def purge_before(self, cutoff: datetime) -> int:
        """Delete events older than `cutoff`, except alerts nobody has closed yet."""
        cursor = self._conn.execute(
            "DELETE FROM fleet_events WHERE ts_ms < ? AND NOT (alert = 1 AND closed_ms IS NULL)",
            (to_ms(cutoff),),
        )
        return cursor.rowcount

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM fleet_events").fetchone()[0])


class IngestCounts:
    """How many messages came in, were resends, or were malformed (by why): kept across restarts."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, name: str, n: int = 1) -> None:
        self._conn.execute(
            "INSERT INTO ingest_counts (name, count) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET count = count + excluded.count",
            (name, n),
        )

    def all(self) -> dict[str, int]:
        return {name: count for name, count in self._conn.execute("SELECT name, count FROM ingest_counts")}
