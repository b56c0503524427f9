"""The branch's schedule document in SQLite (table `schedule`, one row, JSON).

With no row stored yet the schedule is EMPTY: no windows, no holidays, so the door is
CLOSED at all times. The Beilen example (config/beilen-schedule.json) is never loaded
behind anyone's back: a branch opens only after someone has stored its own schedule.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from controller.domain.schedule import Schedule, parse_schedule
from controller.store.codec import from_ms, to_ms


@dataclass(frozen=True)
class StoredSchedule:
    """The schedule in force, and who stored it when (both None for the empty default)."""

    schedule: Schedule
    updated_at: datetime | None
    updated_by: str | None

    @property
    def is_default(self) -> bool:
        return self.updated_at is None


def empty_schedule() -> Schedule:
    """What applies before any schedule is stored: closed around the clock."""
    return Schedule()


class ScheduleStore:
    """Loads and replaces the one schedule row; the caller owns the transaction (a save goes
    with its audit event)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def load(self) -> StoredSchedule:
        """The stored schedule, or the empty default when none was ever stored.

        A stored document is validated again on the way out (ScheduleInvalid if someone
        edited the row by hand into something this program refuses).
        """
        row = self._conn.execute(
            "SELECT document, updated_ms, updated_by FROM schedule WHERE id = 1"
        ).fetchone()
        if row is None:
            return StoredSchedule(empty_schedule(), None, None)
        return StoredSchedule(
            parse_schedule(row["document"]),
            from_ms(row["updated_ms"]),
            row["updated_by"],
        )

    def save(self, schedule: Schedule, now: datetime, actor: str) -> StoredSchedule:
        """Replace the stored document (upsert of the single row)."""
        updated_ms = to_ms(now)
        self._conn.execute(
            "INSERT INTO schedule (id, document, updated_ms, updated_by) VALUES (1, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET document = excluded.document, "
            "updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
            (schedule.model_dump_json(), updated_ms, actor),
        )
        return StoredSchedule(schedule, from_ms(updated_ms), actor)


def load_schedule(conn: sqlite3.Connection) -> Schedule:
    """The schedule the service should start its ModeSwitcher with (empty when none stored)."""
    return ScheduleStore(conn).load().schedule
