"""The footage tables: segment files, per-event clips and their keep marks (times in UTC ms)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

from controller.store.codec import day_from_text_or_none, day_text, day_text_or_none


@dataclass(frozen=True)
class SegmentRow:
    id: int
    path: str  # relative to the footage directory
    start_ms: int
    end_ms: int | None  # None while being recorded
    frames: int
    bytes: int


@dataclass(frozen=True)
class ClipRow:
    event_id: int
    path: str
    start_ms: int
    end_ms: int
    frames: int
    bytes: int
    keep_until: date | None = None
    keep_by: str | None = None
    keep_note: str | None = None

    def kept_on(self, today: date) -> bool:
        """A keep mark protects the clip up to and including its last day."""
        return self.keep_until is not None and self.keep_until >= today


class FootageStore:
    """Reads and writes footage rows, one statement each (the caller owns any transaction);
    files are the caller's job."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- written as the recorder reports -----------------------------------------------
    def segment_started(self, path: str, start_ms: int) -> None:
        self._conn.execute(
            "INSERT INTO footage_segments (path, start_ms) VALUES (?, ?) "
            "ON CONFLICT(path) DO UPDATE SET start_ms = excluded.start_ms",
            (path, start_ms),
        )

    def segment_finished(self, path: str, start_ms: int, end_ms: int, frames: int, size: int) -> None:
        """Close the row the start made (or add one if that message was lost)."""
        self._conn.execute(
            "INSERT INTO footage_segments (path, start_ms, end_ms, frames, bytes) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET start_ms = excluded.start_ms, end_ms = excluded.end_ms, "
            "frames = excluded.frames, bytes = excluded.bytes",
            (path, start_ms, end_ms, frames, size),
        )

    def add_clip(self, event_id: int, path: str, start_ms: int, end_ms: int, frames: int, size: int) -> None:
        self._conn.execute(
            "INSERT INTO event_clips (event_id, path, start_ms, end_ms, frames, bytes) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO UPDATE SET path = excluded.path, "
            "start_ms = excluded.start_ms, end_ms = excluded.end_ms, frames = excluded.frames, "
            "bytes = excluded.bytes",
            (event_id, path, start_ms, end_ms, frames, size),
        )

    def unfinished_segments(self) -> list[SegmentRow]:
        """Rows left open by a recorder that died mid-segment."""
        rows = self._conn.execute("SELECT * FROM footage_segments WHERE end_ms IS NULL").fetchall()
        return [_segment(r) for r in rows]

    # --- looking footage up ------------------------------------------------------------
    def clip(self, event_id: int) -> ClipRow | None:
        row = self._conn.execute("SELECT * FROM event_clips WHERE event_id = ?", (event_id,)).fetchone()
        return _clip(row) if row else None

    def segment_covering(self, at_ms: int) -> SegmentRow | None:
        """The finished segment whose time span holds `at_ms`."""
        row = self._conn.execute(
            "SELECT * FROM footage_segments WHERE start_ms <= ? AND end_ms IS NOT NULL AND end_ms > ? "
            "ORDER BY start_ms DESC LIMIT 1",
            (at_ms, at_ms),
        ).fetchone()
        return _segment(row) if row else None

    def events_with_footage(self, event_ids: list[int]) -> set[int]:
        """Those of `event_ids` with a clip of their own or inside a finished segment: the
        events clip_for-style look-ups would find footage for, in one query for a whole page."""
        if not event_ids:
            return set()
        marks = ",".join("?" * len(event_ids))
        rows = self._conn.execute(
            f"SELECT e.id FROM events e WHERE e.id IN ({marks}) AND ("
            "EXISTS (SELECT 1 FROM event_clips c WHERE c.event_id = e.id) OR "
            "EXISTS (SELECT 1 FROM footage_segments s WHERE s.start_ms <= e.ts_ms "
            "AND s.end_ms IS NOT NULL AND s.end_ms > e.ts_ms))",
            event_ids,
        ).fetchall()
        return {row[0] for row in rows}

    def event_time_ms(self, event_id: int) -> int | None:
        row = self._conn.execute("SELECT ts_ms FROM events WHERE id = ?", (event_id,)).fetchone()
        return row[0] if row else None

    def set_keep(self, event_id: int, until: date | None, by: str | None, note: str | None) -> bool:
        """Mark (or, with until=None, unmark) a clip; False when there is no such clip."""
        return (
            self._conn.execute(
                "UPDATE event_clips SET keep_until = ?, keep_by = ?, keep_note = ? WHERE event_id = ?",
                (day_text_or_none(until), by, note, event_id),
            ).rowcount
            == 1
        )

    # --- what retention and quota may delete -------------------------------------------
    def total_bytes(self) -> int:
        return self._conn.execute(
            "SELECT (SELECT COALESCE(SUM(bytes), 0) FROM footage_segments)"
            " + (SELECT COALESCE(SUM(bytes), 0) FROM event_clips)"
        ).fetchone()[0]

    def finished_segments(self, ended_before_ms: int | None = None, limit: int = 100) -> list[SegmentRow]:
        """Oldest first; a segment still being written is never offered."""
        rows = self._conn.execute(
            "SELECT * FROM footage_segments WHERE end_ms IS NOT NULL AND end_ms < ? "
            "ORDER BY start_ms LIMIT ?",
            (_upper(ended_before_ms), limit),
        ).fetchall()
        return [_segment(r) for r in rows]

    def unkept_clips(
        self, today: date, ended_before_ms: int | None = None, limit: int = 100
    ) -> list[ClipRow]:
        """Oldest first; clips whose keep mark runs to today or later are never offered."""
        rows = self._conn.execute(
            "SELECT * FROM event_clips WHERE end_ms < ? AND (keep_until IS NULL OR keep_until < ?) "
            "ORDER BY start_ms LIMIT ?",
            (_upper(ended_before_ms), day_text(today), limit),
        ).fetchall()
        return [_clip(r) for r in rows]

    def segments_between(self, since_ms: int, until_ms: int, limit: int) -> list[SegmentRow]:
        """Finished segments overlapping [since, until), newest first (what security browses)."""
        rows = self._conn.execute(
            "SELECT * FROM footage_segments WHERE end_ms IS NOT NULL AND start_ms < ? AND end_ms > ? "
            "ORDER BY start_ms DESC LIMIT ?",
            (until_ms, since_ms, limit),
        ).fetchall()
        return [_segment(r) for r in rows]

    def segment(self, segment_id: int) -> SegmentRow | None:
        row = self._conn.execute(
            "SELECT * FROM footage_segments WHERE id = ? AND end_ms IS NOT NULL", (segment_id,)
        ).fetchone()
        return _segment(row) if row else None

    def delete_segment(self, segment_id: int) -> None:
        self._conn.execute("DELETE FROM footage_segments WHERE id = ?", (segment_id,))

    def delete_clip(self, event_id: int) -> None:
        self._conn.execute("DELETE FROM event_clips WHERE event_id = ?", (event_id,))


def _upper(ms: int | None) -> int:
    return ms if ms is not None else 2**62


def _segment(row: sqlite3.Row) -> SegmentRow:
    return SegmentRow(row["id"], row["path"], row["start_ms"], row["end_ms"], row["frames"], row["bytes"])


def _clip(row: sqlite3.Row) -> ClipRow:
    return ClipRow(
        row["event_id"],
        row["path"],
        row["start_ms"],
        row["end_ms"],
        row["frames"],
        row["bytes"],
        day_from_text_or_none(row["keep_until"]),
        row["keep_by"],
        row["keep_note"],
    )
