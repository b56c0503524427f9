"""The event log table: append, filter with a cursor, and purge by retention."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.domain.events import Event, EventType
from controller.store.db import inserted_id, transaction


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


@dataclass(frozen=True)
class EventCursor:
    """Where a page ended: the (time, id) of its last event; the next page is older than it."""

    ts_ms: int
    id: int

    @classmethod
    def after(cls, event: Event) -> EventCursor:
        assert event.id is not None
        return cls(_ms(event.at), event.id)


class EventLog:
    """Appends and reads events; newest first by time, paged by a (time, id) keyset cursor.

    Ordering by time (not id) lets SQLite walk the (column, ts_ms) indexes backwards and stop
    after one page, however many rows match; several types are one indexed walk each.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def record(self, event: Event) -> int:
        return inserted_id(self._conn.execute(
            "INSERT INTO events (ts_ms, type, door, reason, member_ref, card_hint, actor, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_ms(event.at), event.type.value, event.door, event.reason, event.member_ref,
             event.card_hint, event.actor, event.detail),
        ))

    def query(
        self, where: EventFilter = EventFilter(), limit: int = 50,
        before: EventCursor | None = None,
    ) -> list[Event]:
        """Up to `limit` events matching `where`, newest first, older than `before`."""
        clauses: list[str] = []
        params: list[int | str] = []
        if where.since is not None:
            clauses.append("ts_ms >= ?")
            params.append(_ms(where.since))
        upper = _ms(where.until) if where.until is not None else None
        if before is not None:
            # One upper bound on ts_ms only: SQLite would use the looser of two for the index.
            upper = before.ts_ms + 1 if upper is None else min(upper, before.ts_ms + 1)
            clauses.append("(ts_ms < ? OR id < ?)")
            params += [before.ts_ms, before.id]
        if upper is not None:
            clauses.append("ts_ms < ?")
            params.append(upper)
        if where.member_ref:
            clauses.append("member_ref = ?")
            params.append(where.member_ref)
        if where.reason:
            clauses.append("reason = ?")
            params.append(where.reason)
        order = " ORDER BY ts_ms DESC, id DESC LIMIT ?"
        if not where.types:
            sql = "SELECT * FROM events" + _where(clauses) + order
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        else:
            parts = [
                "SELECT * FROM (SELECT * FROM events" + _where([*clauses, "type = ?"]) + order + ")"
                for _ in where.types
            ]
            args = [arg for kind in where.types for arg in (*params, kind.value, limit)]
            sql = " UNION ALL ".join(parts) + order
            rows = self._conn.execute(sql, (*args, limit)).fetchall()
        return [_event(row) for row in rows]

    def purge(self, older_than: datetime) -> int:
        """Delete events before `older_than`; returns how many went."""
        with transaction(self._conn):
            return self._conn.execute(
                "DELETE FROM events WHERE ts_ms < ?", (_ms(older_than),)
            ).rowcount


READER_FIELD = "reader="  # how a decision's detail names its reader: "reader=rfid mode=openplus"


def recent_refusals(conn: sqlite3.Connection, since: datetime,
                    reasons: tuple[str, ...]) -> list[tuple[str, datetime]]:
    """(reader, time) of each access refusal for one of `reasons` since `since`, oldest first."""
    marks = ",".join("?" * len(reasons))
    rows = conn.execute(
        f"SELECT ts_ms, detail FROM events WHERE type = ? AND ts_ms >= ? AND reason IN ({marks}) "
        "ORDER BY ts_ms", (EventType.ACCESS_REFUSED.value, _ms(since), *reasons)).fetchall()
    found = []
    for ts_ms, detail in rows:
        word = next((w for w in (detail or "").split() if w.startswith(READER_FIELD)), None)
        if word:
            found.append((word[len(READER_FIELD):],
                          datetime.fromtimestamp(ts_ms / 1000, UTC)))
    return found


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _event(row: sqlite3.Row) -> Event:
    return Event(
        id=row["id"], type=EventType(row["type"]),
        at=datetime.fromtimestamp(row["ts_ms"] / 1000, UTC), door=row["door"],
        reason=row["reason"], member_ref=row["member_ref"], card_hint=row["card_hint"],
        actor=row["actor"], detail=row["detail"],
    )
