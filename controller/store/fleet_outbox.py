"""The fleet's outbox (issue 17): MQTT messages persisted until the broker acknowledged them.

A row is written in the same transaction that moves the filler's cursor over the event log, so
an event becomes exactly one row however often the process stops; the row's `sent_ms` is set
only once the broker's PUBACK came. Each thread (the filler/publisher, a test) uses its own
connection.

Every row meant for the console (events and acks: all of them today) carries `seq`, this
branch's own counter (fleet_cursor.last_seq, one up per row, never reused: row ids may be after
a purge emptied the table), in its payload and in its column. The console tracks which seqs it
has, so a message the broker acknowledged and then lost (a crash before it saved or forwarded
it) shows as a gap, and `resend` (mark_unsent) puts those rows back in the queue.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.store.codec import from_ms, to_ms


@dataclass(frozen=True)
class SourceEvent:
    """An event as the filler reads it; member_ref is pseudonymised before it leaves."""

    id: int
    at: datetime
    type: str
    door: str
    reason: str | None
    member_ref: str | None
    card_hint: str | None
    detail: str | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: str  # JSON text, published as it is


class FleetOutbox:
    """Named queries over fleet_outbox and fleet_cursor."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- the filler's cursor over the event log -------------------------------------------------
    def cursor(self) -> int | None:
        """The id of the last event put in the outbox; None before the fleet's first start."""
        row = self._conn.execute("SELECT last_event_id FROM fleet_cursor WHERE id = 1").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def set_cursor(self, event_id: int) -> None:
        self._conn.execute(
            "INSERT INTO fleet_cursor (id, last_event_id) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET last_event_id = excluded.last_event_id",
            (event_id,),
        )

    def newest_event_id(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def events_after(self, event_id: int, limit: int) -> list[SourceEvent]:
        rows = self._conn.execute(
            "SELECT id, ts_ms, type, door, reason, member_ref, card_hint, detail FROM events "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (event_id, limit),
        ).fetchall()
        return [
            SourceEvent(
                id=r[0],
                at=from_ms(r[1]),
                type=r[2],
                door=r[3],
                reason=r[4],
                member_ref=r[5],
                card_hint=r[6],
                detail=r[7],
            )
            for r in rows
        ]

    # --- the outbox -----------------------------------------------------------------------------
    def add(self, topic: str, payload: dict[str, Any], at: datetime, *, sequenced: bool = True) -> int:
        """A new row; `sequenced` (a message the console receives) gives it the next seq, in
        the payload too. A topic the console does not read must say sequenced=False, or the
        console would wait for a seq that never comes to it."""
        seq = self._next_seq() if sequenced else None
        if seq is not None:
            payload = {**payload, "seq": seq}
        cursor = self._conn.execute(
            "INSERT INTO fleet_outbox (topic, payload, created_ms, seq) VALUES (?, ?, ?, ?)",
            (topic, json.dumps(payload, separators=(",", ":"), sort_keys=True), to_ms(at), seq),
        )
        return int(cursor.lastrowid or 0)

    def _next_seq(self) -> int:
        self._conn.execute("UPDATE fleet_cursor SET last_seq = last_seq + 1 WHERE id = 1")
        return int(self._conn.execute("SELECT last_seq FROM fleet_cursor WHERE id = 1").fetchone()[0])

    def acked_through(self) -> int:
        """The highest seq up to which the broker acknowledged every row (the heartbeat's
        `acked_seq`): one below the oldest unsent seq, else the last seq given out."""
        row = self._conn.execute(
            "SELECT seq FROM fleet_outbox WHERE sent_ms IS NULL AND seq IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
        if row is not None:
            return int(row[0]) - 1
        return int(self._conn.execute("SELECT last_seq FROM fleet_cursor WHERE id = 1").fetchone()[0])

    def mark_unsent(self, from_seq: int, to_seq: int) -> tuple[int, int] | None:
        """Put the rows with seq in from_seq..to_seq back in the queue (a console's `resend`);
        the lowest and highest seq still kept there, None when none is (purged)."""
        row = self._conn.execute(
            "SELECT MIN(seq), MAX(seq) FROM fleet_outbox WHERE seq BETWEEN ? AND ?", (from_seq, to_seq)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        self._conn.execute(
            "UPDATE fleet_outbox SET sent_ms = NULL WHERE seq BETWEEN ? AND ?", (from_seq, to_seq)
        )
        return int(row[0]), int(row[1])

    def unsent_up_to(self, row_id: int) -> int:
        """Unsent rows with an id up to `row_id` (the publisher's look for rows put back)."""
        return int(
            self._conn.execute(
                "SELECT COUNT(*) FROM fleet_outbox WHERE sent_ms IS NULL AND id <= ?", (row_id,)
            ).fetchone()[0]
        )

    def unsent(self, after_id: int, limit: int) -> list[OutboxRow]:
        """Unsent rows with an id above `after_id`, oldest first."""
        rows = self._conn.execute(
            "SELECT id, topic, payload FROM fleet_outbox WHERE sent_ms IS NULL AND id > ? "
            "ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [OutboxRow(id=r[0], topic=r[1], payload=r[2]) for r in rows]

    def mark_sent(self, row_ids: list[int], at: datetime) -> None:
        self._conn.executemany(
            "UPDATE fleet_outbox SET sent_ms = ? WHERE id = ? AND sent_ms IS NULL",
            [(to_ms(at), row_id) for row_id in row_ids],
        )

    def waiting(self) -> int:
        return int(
            self._conn.execute("SELECT COUNT(*) FROM fleet_outbox WHERE sent_ms IS NULL").fetchone()[0]
        )

    def purge_sent_before(self, before: datetime) -> int:
        """Forget rows the broker took before `before` (kept a while to look into)."""
        return self._conn.execute(
            "DELETE FROM fleet_outbox WHERE sent_ms IS NOT NULL AND sent_ms < ?", (to_ms(before),)
        ).rowcount
