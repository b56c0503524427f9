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
    # 3: admin users (argon2 password hashes), API tokens (stored hashed), the schedule document.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,        -- argon2id
        roles TEXT NOT NULL,                -- comma-separated: manager, security, admin
        disabled INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash BLOB NOT NULL UNIQUE,    -- SHA-256 of the token; the token is shown once
        label TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        last_used_ms INTEGER
    );
    CREATE TABLE schedule (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        document TEXT NOT NULL,             -- the Schedule model as JSON
        updated_ms INTEGER NOT NULL,
        updated_by TEXT NOT NULL
    );
    """,
    # 4: camera footage: fixed-length segment files and per-event clips with keep marks.
    """
    CREATE TABLE footage_segments (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,          -- relative to the footage directory
        start_ms INTEGER NOT NULL,
        end_ms INTEGER,                     -- NULL while being recorded
        frames INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX footage_segments_start ON footage_segments(start_ms);
    CREATE TABLE event_clips (
        event_id INTEGER PRIMARY KEY,       -- events.id; no foreign key: events are purged sooner
        path TEXT NOT NULL UNIQUE,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        frames INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        keep_until TEXT,                    -- incident: kept past retention until this day
        keep_by TEXT,
        keep_note TEXT
    );
    CREATE INDEX event_clips_start ON event_clips(start_ms);
    """,
    # 5: browser sessions of the web pages (only a SHA-256 digest of the cookie is stored).
    """
    CREATE TABLE web_sessions (
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE,        -- SHA-256 of the cookie value
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,           -- sent back in every form of this session
        created_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL         -- absolute end, whatever the activity
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    """,
    # 6: the PIN key's fingerprint (a database restored without its key must be refused at
    # start, not silently turn every PIN wrong) and each member's lockouts in a row (a lockout
    # after a lockout lasts longer).
    """
    CREATE TABLE pin_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        fingerprint BLOB NOT NULL           -- HMAC of a fixed text under the key; not the key
    );
    ALTER TABLE pin_failures ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: the library system's PIN cache for the offline policy (issue 13): one row per card the
    # LMS last accepted with its PIN. Neither is kept in clear: cards of LMS patrons who are not
    # on the local list have no business in this file, and the PIN is the patron's LMS PIN.
    """
    CREATE TABLE lms_pin_cache (
        card_digest BLOB PRIMARY KEY,       -- HMAC-SHA256 of the card under a key from pin.key
        pin_salt BLOB NOT NULL,
        pin_hash BLOB NOT NULL,             -- HMAC of salt + PIN under pin.key, as members' PINs
        checked_at_ms INTEGER NOT NULL      -- UTC ms of the LMS's last yes to this card and PIN
    ) WITHOUT ROWID;
    CREATE INDEX lms_pin_cache_checked ON lms_pin_cache(checked_at_ms);
    """,
    # 8: alerts (issue 15): one row per alert raised from an event, listed on Today until
    # acknowledged; one delivery row per alert and channel, retried until sent or expired
    # (the queue survives restarts); the last event id the alert watch has read, starting at
    # the newest event now so an upgrade does not alert the whole history.
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        event_id INTEGER UNIQUE,            -- the event it was raised from (NULL: none)
        door TEXT NOT NULL,
        reason TEXT,
        detail TEXT,
        at_ms INTEGER NOT NULL,             -- the event's time
        repeats INTEGER NOT NULL DEFAULT 0, -- more events of its kind folded in (rate limit)
        sent INTEGER NOT NULL DEFAULT 1,    -- 0: listed only (quiet period, no rule, limit)
        acked_ms INTEGER,
        acked_by TEXT
    );
    CREATE INDEX alerts_kind_at ON alerts(kind, at_ms);
    CREATE INDEX alerts_open ON alerts(acked_ms, at_ms);
    CREATE TABLE alert_deliveries (
        alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_ms INTEGER NOT NULL,           -- not tried again before this
        expires_ms INTEGER NOT NULL,
        delivered_ms INTEGER,
        given_up_ms INTEGER,
        last_error TEXT,
        PRIMARY KEY (alert_id, channel)
    ) WITHOUT ROWID;
    CREATE INDEX alert_deliveries_due ON alert_deliveries(channel, delivered_ms, given_up_ms, next_ms);
    CREATE TABLE alert_watch (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_event_id INTEGER NOT NULL
    );
    INSERT INTO alert_watch (id, last_event_id) VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM events));
    """,
    # 9: the local list's new fields (issues 13 and 14): why an entry block was set (a
    # manager's note, shown to security; its end date stays blocked_until), a guardian's
    # consent for a minor under the library system's rules, and "more time" at the door.
    # Existing entries get no note and both flags off: what they meant before.
    """
    ALTER TABLE members ADD COLUMN block_note TEXT;
    ALTER TABLE members ADD COLUMN guardian_consent INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE members ADD COLUMN more_time INTEGER NOT NULL DEFAULT 0;
    """,
    # 10: statistics that outlive the event log (issue 16): counts per branch-local hour, door,
    # mode and outcome/reason (no identities); the people counter's in/out per hour (filled
    # once a counter is fitted); distinct members per day/week/month, counted through keyed
    # digests that are deleted once the period is over; the roll-up's cursor, starting at 0
    # so that the events still held are rolled up too.
    """
    CREATE TABLE stats_hours (
        hour_ms INTEGER NOT NULL,           -- UTC ms of the hour's start (a local hour: whole offsets)
        day TEXT NOT NULL,                  -- branch-local day, YYYY-MM-DD
        hour INTEGER NOT NULL,              -- branch-local hour 0-23 (2 twice on the October day)
        door TEXT NOT NULL,
        mode TEXT NOT NULL,                 -- the door mode in the event's detail; 'unknown'
        outcome TEXT NOT NULL CHECK (outcome IN ('granted', 'refused')),
        reason TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (hour_ms, door, mode, outcome, reason)
    ) WITHOUT ROWID;
    CREATE INDEX stats_hours_day ON stats_hours(day);
    CREATE TABLE stats_people (
        hour_ms INTEGER NOT NULL,
        day TEXT NOT NULL,
        hour INTEGER NOT NULL,
        door TEXT NOT NULL,
        people_in INTEGER NOT NULL,
        people_out INTEGER NOT NULL,
        PRIMARY KEY (hour_ms, door)
    ) WITHOUT ROWID;
    CREATE INDEX stats_people_day ON stats_people(day);
    CREATE TABLE stats_uniques (
        period TEXT NOT NULL,               -- day:YYYY-MM-DD, week:YYYY-Www, month:YYYY-MM
        scope TEXT NOT NULL,                -- all, openplus
        members INTEGER NOT NULL,
        PRIMARY KEY (period, scope)
    ) WITHOUT ROWID;
    CREATE TABLE stats_seen (
        period TEXT NOT NULL,
        scope TEXT NOT NULL,
        digest BLOB NOT NULL,               -- HMAC of period and patron id; never the id
        PRIMARY KEY (period, scope, digest)
    ) WITHOUT ROWID;
    CREATE TABLE stats_rollup (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_event_id INTEGER NOT NULL,
        closed_through TEXT,                -- periods ending by this local day are closed
        rolled_at_ms INTEGER
    );
    INSERT INTO stats_rollup (id, last_event_id) VALUES (1, 0);
    """,
    # 11: the fleet's outbox (issue 17): events as MQTT messages waiting for the broker's
    # PUBACK, kept until sent (and a while after, then purged), so a broker outage or a week
    # offline loses nothing; the filler's cursor over the event log, NULL until the fleet is
    # first enabled (it then starts at the newest event: the past is not sent).
    """
    CREATE TABLE fleet_outbox (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,              -- JSON; its "id" is <branch>/<event id>
        created_ms INTEGER NOT NULL,
        sent_ms INTEGER                     -- when the broker acknowledged it (PUBACK)
    );
    CREATE INDEX fleet_outbox_unsent ON fleet_outbox(id) WHERE sent_ms IS NULL;
    CREATE INDEX fleet_outbox_sent ON fleet_outbox(sent_ms) WHERE sent_ms IS NOT NULL;
    CREATE TABLE fleet_cursor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_event_id INTEGER
    );
    INSERT INTO fleet_cursor (id, last_event_id) VALUES (1, NULL);
    """,
    # 12: fleet commands (issue 17): the last version applied of each kind (a restart still
    # refuses a replay), with the body of the last `rules` (applied again at start), and which
    # entry blocks came from the fleet's shared list (a new list replaces only those).
    """
    CREATE TABLE fleet_applied (
        kind TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        command_id TEXT NOT NULL,
        applied_ms INTEGER NOT NULL,
        body TEXT NOT NULL                  -- JSON, as the command carried it
    ) WITHOUT ROWID;
    ALTER TABLE members ADD COLUMN block_source TEXT;  -- 'fleet': the shared list; NULL: local
    """,
    # 13: the fleet's per-branch sequence (issue 17): each outbox row meant for the console gets
    # the next seq (fleet_cursor.last_seq, never reused), so the console can see a message the
    # broker acknowledged and then lost, and ask for it again (`resend`). Rows written before
    # have none (the console tracks seqs from 1, the first this counter gives).
    """
    ALTER TABLE fleet_outbox ADD COLUMN seq INTEGER;
    CREATE UNIQUE INDEX fleet_outbox_seq ON fleet_outbox(seq);
    ALTER TABLE fleet_cursor ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
    """,
]
