"""The schema, as an append-only list of migrations: never edit one that has shipped.

Version N is reached by running migrations[0..N-1] in order; each runs in one transaction.
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: members and their cards, and the event log.
    """
    CREATE TABLE members (
        id INTEGER PRIMARY KEY,
        patron_id TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        adult_on TEXT NOT NULL,             -- day the member is 18; no birth date is kept
        openplus_registered_on TEXT,        -- day the Open+ rules were accepted; NULL = not
        valid_until TEXT NOT NULL,
        entry_blocked INTEGER NOT NULL DEFAULT 0,
        blocked_until TEXT,                 -- last blocked day; NULL = until unblocked
        category TEXT NOT NULL CHECK (category IN ('member', 'staff')),
        pin_salt BLOB,
        pin_hash BLOB,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE cards (
        card TEXT PRIMARY KEY,
        member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE
    );
    CREATE INDEX cards_member ON cards(member_id);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,             -- UTC, milliseconds since the epoch
        type TEXT NOT NULL,
        door TEXT NOT NULL,
        reason TEXT,
        member_ref TEXT,                    -- patron id; never a card number or PIN
        card_hint TEXT,                     -- last digits of the card only
        actor TEXT,
        detail TEXT
    );
    CREATE INDEX events_ts ON events(ts_ms);
    """,
    # 2: persistent PIN lockouts (a restart must not reset them) and event filter indexes.
    """
    CREATE TABLE pin_failures (
        member_id INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
        failures INTEGER NOT NULL,
        locked_until_ms INTEGER
    );
    CREATE INDEX events_member_ts ON events(member_ref, ts_ms);
    CREATE INDEX events_type_ts ON events(type, ts_ms);
    CREATE INDEX events_reason_ts ON events(reason, ts_ms);
    """,
]
