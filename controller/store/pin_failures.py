"""The door's wrong-PIN counts and lockouts in SQLite (write-behind from the door's memory).

Why a module of its own: the door never reads these on its thread; the EventWriter saves them
and the service loads them once at start. They are not member data an admin edits.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from controller.store.codec import from_ms_or_none, to_ms_or_none


@dataclass(frozen=True)
class PinFailures:
    """One member's row as the door keeps it: wrong PINs since the last lockout, when the last
    lockout ends (kept after it has ended: the escalation measures its quiet period from it)
    and lockouts in a row."""

    member_id: int
    failures: int
    locked_until: datetime | None
    lockouts: int = 0


def save_pin_failures(conn: sqlite3.Connection, item: PinFailures) -> None:
    """Store a member's counts (write-behind, in the caller's transaction); nothing to keep
    deletes the row. A member removed meanwhile is skipped."""
    member_id, failures, locked_until, lockouts = (
        item.member_id,
        item.failures,
        item.locked_until,
        item.lockouts,
    )
    if failures == 0 and locked_until is None and lockouts == 0:
        conn.execute("DELETE FROM pin_failures WHERE member_id = ?", (member_id,))
        return
    conn.execute(
        "INSERT INTO pin_failures (member_id, failures, locked_until_ms, lockouts) "
        "SELECT id, ?, ?, ? FROM members WHERE id = ? "
        "ON CONFLICT(member_id) DO UPDATE SET failures = excluded.failures, "
        "locked_until_ms = excluded.locked_until_ms, lockouts = excluded.lockouts",
        (failures, to_ms_or_none(locked_until), lockouts, member_id),
    )


def load_pin_failures(conn: sqlite3.Connection) -> dict[int, PinFailures]:
    """Every stored wrong-PIN count and lockout, by member id (the door loads them at start)."""
    return {
        row[0]: PinFailures(row[0], row[1], from_ms_or_none(row[2]), row[3])
        for row in conn.execute("SELECT member_id, failures, locked_until_ms, lockouts FROM pin_failures")
    }
