"""The event log table: append, filter with a cursor, and purge by retention."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

from controller.events import Event, EventType
from controller.store.db import transaction


@dataclass(frozen=True)
class EventFilter:
    """All optional; times are aware datetimes, `since` inclusive and `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    member_ref: str | None = None
    types: tuple[EventType, ...] = ()
    reason: str | None = None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class EventLog:
    """Appends and reads events; newest first, paged by id so pages never shift or repeat."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def record(self, event: Event) -> int:
        return self._conn.execute(
            "INSERT INTO events (ts_ms, type, door, reason, member_ref, card_hint, actor, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_ms(event.at), event.type.value, event.door, event.reason, event.member_ref,
             event.card_hint, event.actor, event.detail),
        ).lastrowid

    def query(
        self, where: EventFilter = EventFilter(), limit: int = 50, before_id: int | None = None
    ) -> list[Event]:
        """Up to `limit` events matching `where`, newest first, older than `before_id`."""
        clauses, params = [], []
        if where.since is not None:
            clauses.append("ts_ms >= ?")
            params.append(_ms(where.since))
        if where.until is not None:
            clauses.append("ts_ms < ?")
            params.append(_ms(where.until))
        if where.member_ref:
            clauses.append("member_ref = ?")
            params.append(where.member_ref)
        if where.types:
            clauses.append(f"type IN ({','.join('?' * len(where.types))})")
            params.extend(t.value for t in where.types)
        if where.reason:
            clauses.append("reason = ?")
            params.append(where.reason)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        sql = "SELECT * FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [_event(row) for row in rows]

    def purge(self, older_than: datetime) -> int:
        """Delete events before `older_than`; returns how many went."""
        with transaction(self._conn):
            return self._conn.execute(
                "DELETE FROM events WHERE ts_ms < ?", (_ms(older_than),)
            ).rowcount


def _event(row: sqlite3.Row) -> Event:
    return Event(
        id=row["id"], type=EventType(row["type"]),
        at=datetime.fromtimestamp(row["ts_ms"] / 1000, timezone.utc), door=row["door"],
        reason=row["reason"], member_ref=row["member_ref"], card_hint=row["card_hint"],
        actor=row["actor"], detail=row["detail"],
    )
