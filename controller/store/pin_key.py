"""The PIN key's fingerprint in SQLite (table `pin_key`, one row), and the PINs it guards.

Why a module of its own: the key file lives beside the database, never inside it; what the
database keeps is its fingerprint, so that a start with another key is refused while PINs
hashed with the old one are stored (controller.services.runtime.pin_hasher_for decides).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from controller.store.codec import to_ms


def pins_stored(conn: sqlite3.Connection) -> bool:
    """Whether any member has a PIN (hashed with the key the fingerprint names)."""
    return bool(
        conn.execute("SELECT EXISTS (SELECT 1 FROM members WHERE pin_hash IS NOT NULL)").fetchone()[0]
    )


def stored_fingerprint(conn: sqlite3.Connection) -> bytes | None:
    """The fingerprint of the key last bound to this database, or None before the first."""
    row = conn.execute("SELECT fingerprint FROM pin_key WHERE id = 1").fetchone()
    return bytes(row[0]) if row is not None else None


def store_fingerprint(conn: sqlite3.Connection, fingerprint: bytes) -> None:
    """Bind a key to this database by its fingerprint (replacing the one stored)."""
    conn.execute(
        "INSERT INTO pin_key (id, fingerprint) VALUES (1, ?) "
        "ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint",
        (fingerprint,),
    )


def clear_all_pins(conn: sqlite3.Connection, now: datetime) -> int:
    """Clear every member's PIN and every stored wrong-PIN count and lockout (those were
    checked against a key that is gone); how many PINs were cleared. Several statements: call
    it inside the caller's `transaction()`."""
    cleared = conn.execute(
        "UPDATE members SET pin_salt = NULL, pin_hash = NULL, updated_ms = ? WHERE pin_hash IS NOT NULL",
        (to_ms(now),),
    ).rowcount
    conn.execute("DELETE FROM pin_failures")
    return cleared
