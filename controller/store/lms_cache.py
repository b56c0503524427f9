"""The library system's PIN cache in SQLite (table `lms_pin_cache`, migration 7).

One row per card the LMS last accepted together with its PIN, so the offline policy can still
recognise that card and PIN while the LMS does not answer. Why a module of its own: the door
never reads these rows on its thread. `controller.services.pin_cache.LmsPinCache` loads them
once at start and writes them behind from its own thread and connection.

Nothing here is in clear: the card is a keyed digest (patrons of the LMS who are not on the
local list have no business in this file), the PIN a salted keyed hash as members' PINs are.
Each function is one statement: atomic on its own, so none needs the caller's transaction
(see the package docstring).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from controller.store.codec import from_ms, to_ms


@dataclass(frozen=True)
class CachedPin:
    """One cached card: its keyed digest, the PIN's salt and keyed hash, and when the LMS last
    said yes to them (aware UTC)."""

    card_digest: bytes = field(repr=False)
    pin_salt: bytes = field(repr=False)
    pin_hash: bytes = field(repr=False)
    checked_at: datetime


def load_cached_pins(conn: sqlite3.Connection) -> list[CachedPin]:
    """Every cached card, in one query (the cache reads them into memory at start)."""
    return [
        CachedPin(bytes(row[0]), bytes(row[1]), bytes(row[2]), from_ms(row[3]))
        for row in conn.execute("SELECT card_digest, pin_salt, pin_hash, checked_at_ms FROM lms_pin_cache")
    ]


def save_cached_pin(conn: sqlite3.Connection, entry: CachedPin) -> None:
    """Store a card's cached PIN, replacing what was kept for that card."""
    conn.execute(
        "INSERT INTO lms_pin_cache (card_digest, pin_salt, pin_hash, checked_at_ms) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (card_digest) DO UPDATE SET "
        "pin_salt = excluded.pin_salt, pin_hash = excluded.pin_hash, "
        "checked_at_ms = excluded.checked_at_ms",
        (entry.card_digest, entry.pin_salt, entry.pin_hash, to_ms(entry.checked_at)),
    )


def delete_cached_pin(conn: sqlite3.Connection, card_digest: bytes) -> bool:
    """Drop a card's cached PIN; whether there was one."""
    return conn.execute("DELETE FROM lms_pin_cache WHERE card_digest = ?", (card_digest,)).rowcount > 0


def purge_cached_pins(conn: sqlite3.Connection, checked_before: datetime) -> int:
    """Drop every cached PIN the LMS last accepted before `checked_before`; how many."""
    return conn.execute(
        "DELETE FROM lms_pin_cache WHERE checked_at_ms < ?", (to_ms(checked_before),)
    ).rowcount
