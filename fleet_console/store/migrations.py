"""The console's schema, append-only like the branch's (never edit a migration that shipped).

The first four tables have the branch's shapes (controller/store/migrations.py 1, 3 and 5),
because the console reuses the branch's user, session and audit stores on them; a test compares
their columns with a branch database, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

CONSOLE_MIGRATIONS: list[str] = [
    # 1: users, API tokens, sessions and the audit log (the branch's shapes), then the fleet.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash BLOB NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        last_used_ms INTEGER
    );
    CREATE TABLE web_sessions (
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    CREATE TABLE events (                   -- the console's own audit log (users, commands sent)
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        type TEXT NOT NULL,
        door TEXT NOT NULL,
        reason TEXT,
        member_ref TEXT,
        card_hint TEXT,
        actor TEXT,
        detail TEXT
    );
    CREATE INDEX events_ts ON events(ts_ms);
    CREATE TABLE branches (
        id TEXT PRIMARY KEY,                -- the branch id of its topics
        state TEXT,                         -- online | offline, from the retained state
        state_json TEXT,                    -- the last state message as received
        state_ms INTEGER,                   -- when it was received
        heartbeat_ms INTEGER,               -- the last heartbeat's own time
        outbox INTEGER,                     -- its outbox length then
        first_seen_ms INTEGER NOT NULL
    );
    CREATE TABLE fleet_events (
        msg_id TEXT PRIMARY KEY,            -- <branch>/<event id>: the same on every resend
        branch TEXT NOT NULL,
        ts_ms INTEGER NOT NULL,
        type TEXT NOT NULL,
        door TEXT,
        reason TEXT,
        member TEXT,                        -- a keyed pseudonym, never a patron id
        card_hint TEXT,
        detail TEXT,
        received_ms INTEGER NOT NULL,
        alert INTEGER NOT NULL DEFAULT 0,   -- one staff should look at
        closed_ms INTEGER,                  -- an alert closed by a console user
        closed_by TEXT
    );
    CREATE INDEX fleet_events_ts ON fleet_events(ts_ms);
    CREATE INDEX fleet_events_branch_ts ON fleet_events(branch, ts_ms);
    CREATE INDEX fleet_events_open_alerts ON fleet_events(branch) WHERE alert = 1 AND closed_ms IS NULL;
    CREATE TABLE command_counter (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL            -- the console's one increasing command version
    );
    INSERT INTO command_counter (id, version) VALUES (1, 0);
    CREATE TABLE commands (
        id TEXT PRIMARY KEY,                -- 32 hex: the envelope id, the same for every target
        kind TEXT NOT NULL,
        version INTEGER NOT NULL UNIQUE,
        by TEXT NOT NULL,
        body TEXT NOT NULL,                 -- JSON, as sent
        issued_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE command_targets (
        command_id TEXT NOT NULL REFERENCES commands(id) ON DELETE CASCADE,
        branch TEXT NOT NULL,
        payload TEXT NOT NULL,              -- the signed envelope for this branch
        published_ms INTEGER,               -- the broker acknowledged it (PUBACK)
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'refused')),
        reason TEXT,
        acked_ms INTEGER,
        PRIMARY KEY (command_id, branch)
    );
    CREATE INDEX command_targets_unpublished ON command_targets(command_id) WHERE published_ms IS NULL;
    CREATE TABLE ingest_counts (
        name TEXT PRIMARY KEY,              -- received, duplicate, malformed:<why>
        count INTEGER NOT NULL
    );
    """,
    # 2: which of each branch's message seqs the console has (store/seqs.py): a message the
    # broker acknowledged and lost shows as a gap, asked for again with a `resend` command.
    """
    CREATE TABLE branch_seqs (
        branch TEXT PRIMARY KEY,
        through INTEGER NOT NULL DEFAULT 0, -- every seq up to this is here (or given up)
        ahead TEXT NOT NULL DEFAULT '[]',   -- JSON [[from, to], ...]: ranges received above it
        acked INTEGER NOT NULL DEFAULT 0,   -- the highest acked_seq of its heartbeats
        gap_ms INTEGER,                     -- the first gap, first seen then
        asked_ms INTEGER,                   -- a resend for it sent then
        refused TEXT,                       -- why the branch refused it (other than not kept)
        lost INTEGER NOT NULL DEFAULT 0     -- seqs the branch no longer had
    );
    """,
]
