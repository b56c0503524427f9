"""The event log table: append, filter with a cursor, and purge by retention."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from controller.domain.events import Event, EventType
from controller.store.codec import from_ms, to_ms
from controller.store.db import inserted_id


@dataclass(frozen=True)
class EventFilter:
    """All optional; times are aware datetimes, `since` inclusive and `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    member_ref: str | None = None
    types: tuple[EventType, ...] = ()
    reason: str | None = None
    # Whole words of `detail`, any of which an event must carry ("decided_by=offline_cache"):
    # for fields the writers put there (see detail_field). Not indexed: pair it with `types`.
    detail_any_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventCursor:
    """Where a page ended: the (time, id) of its last event; the next page is older than it."""

    ts_ms: int
    id: int

    @classmethod
    def after(cls, event: Event) -> EventCursor:
        assert event.id is not None
        return cls(to_ms(event.at), event.id)


class EventLog:
    """Appends and reads events; newest first by time, paged by a (time, id) keyset cursor.

    Ordering by time (not id) lets SQLite walk the (column, ts_ms) indexes backwards and stop
    after one page, however many rows match; several types are one indexed walk each.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection the log writes on (a use case's transaction must be on the same)."""
        return self._conn

    def record(self, event: Event) -> int:
        return inserted_id(
            self._conn.execute(
                "INSERT INTO events (ts_ms, type, door, reason, member_ref, card_hint, actor, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    to_ms(event.at),
                    event.type.value,
                    event.door,
                    event.reason,
                    event.member_ref,
                    event.card_hint,
                    event.actor,
                    event.detail,
                ),
            )
        )

    def query(
        self,
        where: EventFilter = EventFilter(),
        limit: int = 50,
        before: EventCursor | None = None,
    ) -> list[Event]:
        """Up to `limit` events matching `where`, newest first, older than `before`."""
        clauses: list[str] = []
        params: list[int | str] = []
        if where.since is not None:
            clauses.append("ts_ms >= ?")
            params.append(to_ms(where.since))
        upper = to_ms(where.until) if where.until is not None else None
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
        _match(where, clauses, params)
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

    def get(self, event_id: int) -> Event | None:
        """One event by its id, or None."""
        row = self._conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return _event(row) if row else None

    def count(self, types: tuple[EventType, ...], since: datetime) -> dict[EventType, int]:
        """How many events of each of `types` from `since` on (inclusive); one indexed count
        per type on the (type, ts_ms) index, so a busy day costs no more than a quiet one."""
        return {
            kind: self._conn.execute(
                "SELECT COUNT(*) FROM events WHERE type = ? AND ts_ms >= ?", (kind.value, to_ms(since))
            ).fetchone()[0]
            for kind in types
        }

    def count_matching(self, where: EventFilter) -> int:
        """How many events match `where` (its times and every filter; one COUNT per type)."""
        clauses: list[str] = []
        params: list[int | str] = []
        if where.since is not None:
            clauses.append("ts_ms >= ?")
            params.append(to_ms(where.since))
        if where.until is not None:
            clauses.append("ts_ms < ?")
            params.append(to_ms(where.until))
        _match(where, clauses, params)
        sql = "SELECT COUNT(*) FROM events"
        if not where.types:
            return int(self._conn.execute(sql + _where(clauses), params).fetchone()[0])
        return sum(
            int(self._conn.execute(sql + _where([*clauses, "type = ?"]), (*params, kind.value)).fetchone()[0])
            for kind in where.types
        )

    def purge(self, older_than: datetime) -> int:
        """Delete events before `older_than` (one statement); returns how many went."""
        return self._conn.execute("DELETE FROM events WHERE ts_ms < ?", (to_ms(older_than),)).rowcount


READER_FIELD = "reader="  # how a decision's detail names its reader: "reader=rfid mode=openplus"


def detail_field(detail: str | None, field: str) -> str | None:
    """The value of `field` ("reader=", "decided_by=") in an event's detail, or None: the one
    reader of the `name=value` words the door writes there, separated by spaces."""
    word = next((w for w in (detail or "").split() if w.startswith(field)), None)
    return word[len(field) :] if word is not None else None


def recent_refusals(
    conn: sqlite3.Connection, since: datetime, reasons: tuple[str, ...]
) -> list[tuple[str, datetime]]:
    """(reader, time) of each access refusal for one of `reasons` since `since`, oldest first."""
    marks = ",".join("?" * len(reasons))
    rows = conn.execute(
        f"SELECT ts_ms, detail FROM events WHERE type = ? AND ts_ms >= ? AND reason IN ({marks}) "
        "ORDER BY ts_ms",
        (EventType.ACCESS_REFUSED.value, to_ms(since), *reasons),
    ).fetchall()
    found = []
    for ts_ms, detail in rows:
        reader = detail_field(detail, READER_FIELD)
        if reader:
            found.append((reader, from_ms(ts_ms)))
    return found


def _match(where: EventFilter, clauses: list[str], params: list[int | str]) -> None:
    """The filters other than time and type, as SQL clauses and their parameters."""
    if where.member_ref:
        clauses.append("member_ref = ?")
        params.append(where.member_ref)
    if where.reason:
        clauses.append("reason = ?")
        params.append(where.reason)
    if where.detail_any_of:
        # A whole word: padded with spaces, so "x=a" does not match "x=ab"; LIKE's own
        # wildcards (and the escape) in a word are escaped.
        words = [" " + re.sub(r"([\\%_])", r"\\\1", word) + " " for word in where.detail_any_of]
        clauses.append("(" + " OR ".join(["(' ' || detail || ' ') LIKE ? ESCAPE '\\'"] * len(words)) + ")")
        params.extend(f"%{word}%" for word in words)


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _event(row: sqlite3.Row) -> Event:
    return Event(
        id=row["id"],
        type=EventType(row["type"]),
        at=from_ms(row["ts_ms"]),
        door=row["door"],
        reason=row["reason"],
        member_ref=row["member_ref"],
        card_hint=row["card_hint"],
        actor=row["actor"],
        detail=row["detail"],
    )
