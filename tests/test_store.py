"""Storage: WAL, migrations from an older schema, PIN key file, no plain PINs anywhere."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from controller.domain.events import Event, EventType
from controller.domain.pins import PinHasher, PinKeyError
from controller.store import SCHEMA_VERSION, Database
from controller.store.db import DatabaseError
from controller.store.events import EventCursor, EventFilter, EventLog
from controller.store.migrations import MIGRATIONS


def test_new_database_is_wal_and_current(tmp_path):
    db = Database(tmp_path / "door.db")
    assert db.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    with closing(db.connect()) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_database_made_by_an_older_schema_is_upgraded_with_its_data(tmp_path):
    path = tmp_path / "door.db"
    Database(path, migrations=MIGRATIONS[:1])  # as version 1 of the program left it
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "INSERT INTO members (patron_id, display_name, adult_on, valid_until, category, "
            "updated_ms) VALUES ('OLD1', 'O.', '2000-01-01', '2030-01-01', 'member', 0)"
        )
        conn.execute("INSERT INTO cards VALUES ('29990000000042', 1)")
        conn.execute("INSERT INTO events (ts_ms, type, door) VALUES (1, 'service', 'front')")
        conn.commit()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    db = Database(path)
    assert db.schema_version() == SCHEMA_VERSION
    with closing(db.connect()) as conn:
        assert conn.execute("SELECT patron_id FROM members").fetchall()[0][0] == "OLD1"
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
        conn.execute("INSERT INTO pin_failures (member_id, failures) VALUES (1, 2)")  # v2 table
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"events_member_ts", "events_type_ts", "events_reason_ts"} <= indexes


def test_failed_migration_leaves_the_old_version(tmp_path):
    path = tmp_path / "door.db"
    Database(path, migrations=MIGRATIONS[:1])
    with pytest.raises(sqlite3.OperationalError):
        Database(path, migrations=[MIGRATIONS[0], "CREATE TABLE x (a); CREATE TABLE x (b);"])
    assert Database(path, migrations=MIGRATIONS[:1]).schema_version() == 1
    with closing(sqlite3.connect(path)) as conn:
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'x'").fetchall()


def test_database_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "door.db"
    Database(path)
    with pytest.raises(DatabaseError, match="newer than this program"):
        Database(path, migrations=MIGRATIONS[:1])


def test_pin_key_is_created_0600_and_reused(tmp_path):
    key_path = tmp_path / "secret" / "pin.key"
    first = PinHasher.from_key_file(key_path)
    assert oct(os.stat(key_path).st_mode & 0o777) == "0o600"
    salt, digest = first.hash("1234")
    second = PinHasher.from_key_file(key_path)
    assert second.verify("1234", salt, digest) and not second.verify("1235", salt, digest)
    assert "key" not in repr(first).replace("key=<hidden>", "")


def test_pin_key_readable_by_others_is_refused(tmp_path):
    key_path = tmp_path / "pin.key"
    PinHasher.from_key_file(key_path)
    key_path.chmod(0o644)
    with pytest.raises(PinKeyError, match="readable by others"):
        PinHasher.from_key_file(key_path)


def test_pin_key_of_wrong_size_is_refused(tmp_path):
    key_path = tmp_path / "pin.key"
    key_path.write_bytes(b"short")
    key_path.chmod(0o600)
    with pytest.raises(PinKeyError, match="32 bytes"):
        PinHasher.from_key_file(key_path)


def test_same_pin_gives_different_hashes_and_another_key_cannot_verify(tmp_path):
    a = PinHasher(b"a" * 32)
    salt1, digest1 = a.hash("1234")
    salt2, digest2 = a.hash("1234")
    assert digest1 != digest2
    assert not PinHasher(b"b" * 32).verify("1234", salt1, digest1)
    assert not a.verify("1234", None, None)


def test_no_plain_pin_or_full_card_in_the_database_file(runtime, clock):
    from controller.domain.modes import DoorMode
    from controller.services.access import Authorizer
    from controller.services.members import MemberAdmin
    from tests.helpers import member_row

    with closing(runtime.connection()) as conn:
        MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "e").replace_list(
            [(1, member_row(1, pin="918273"))], "test"
        )
        auth = Authorizer(
            runtime.members(conn), runtime.events(conn), runtime.hasher, runtime.settings.access, "e"
        )
        auth.authorize("29990000000001", "918273", "r", DoorMode.OPENPLUS, clock())
        auth.authorize("29990000000001", "564738", "r", DoorMode.OPENPLUS, clock())
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        event_text = " ".join(str(tuple(r)) for r in conn.execute("SELECT * FROM events"))
    blob = runtime.db.path.read_bytes()
    assert b"918273" not in blob and b"564738" not in blob
    assert "29990000000001" not in event_text and "918273" not in event_text


def test_event_query_filters_and_cursor(tmp_path):
    db = Database(tmp_path / "door.db")
    with closing(db.connect()) as conn:
        log = EventLog(conn)
        start = datetime(2026, 3, 28, 12, tzinfo=UTC)
        for n in range(10):
            log.record(
                Event(
                    type=EventType.ACCESS_REFUSED if n % 2 else EventType.ACCESS_GRANTED,
                    at=start + timedelta(hours=n),
                    door="front",
                    reason="wrong_pin" if n % 2 else "granted",
                    member_ref=f"P{n % 3}",
                )
            )
        first = log.query(limit=4)
        assert [e.at.hour for e in first] == [21, 20, 19, 18]
        rest = log.query(limit=100, before=EventCursor.after(first[-1]))
        assert len(rest) == 6 and rest[0].id == first[-1].id - 1
        both = log.query(
            EventFilter(types=(EventType.ACCESS_REFUSED, EventType.ACCESS_GRANTED)),
            limit=3,
            before=EventCursor.after(first[0]),
        )
        assert [e.at.hour for e in both] == [20, 19, 18]
        refused = log.query(EventFilter(types=(EventType.ACCESS_REFUSED,)))
        assert len(refused) == 5 and all(e.reason == "wrong_pin" for e in refused)
        window = log.query(EventFilter(since=start + timedelta(hours=2), until=start + timedelta(hours=5)))
        assert [e.at.hour for e in window] == [16, 15, 14]
        assert {e.member_ref for e in log.query(EventFilter(member_ref="P1"))} == {"P1"}
        assert log.purge(start + timedelta(hours=3)) == 3
        assert len(log.query(limit=100)) == 7


def test_event_pages_with_equal_timestamps_neither_skip_nor_repeat(tmp_path):
    db = Database(tmp_path / "door.db")
    with closing(db.connect()) as conn:
        log = EventLog(conn)
        moment = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
        for n in range(7):  # several events in one millisecond, two types interleaved
            log.record(
                Event(
                    EventType.DOOR_OPENED if n % 2 else EventType.DOOR_CLOSED, moment, "front", detail=str(n)
                )
            )
        seen, cursor = [], None
        while True:
            page = log.query(
                EventFilter(types=(EventType.DOOR_OPENED, EventType.DOOR_CLOSED)), limit=2, before=cursor
            )
            seen += [e.detail for e in page]
            if len(page) < 2:
                break
            cursor = EventCursor.after(page[-1])
        assert seen == ["6", "5", "4", "3", "2", "1", "0"]


def test_database_at_schema_6_gains_the_lms_pin_cache_with_its_data_kept(tmp_path):
    from controller.store.lms_cache import (
        CachedPin,
        delete_cached_pin,
        load_cached_pins,
        purge_cached_pins,
        save_cached_pin,
    )

    path = tmp_path / "door.db"
    Database(path, migrations=MIGRATIONS[:6])  # as the program before issue 13 left it
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO pin_key (id, fingerprint) VALUES (1, x'01')")
        conn.commit()
    db = Database(path)
    assert db.schema_version() == SCHEMA_VERSION >= 7
    checked = datetime(2026, 3, 2, 9, 30, 0, 123000, tzinfo=UTC)
    with closing(db.connect()) as conn:
        assert conn.execute("SELECT fingerprint FROM pin_key").fetchone()[0] == b"\x01"
        columns = [row[1] for row in conn.execute("PRAGMA table_info(lms_pin_cache)")]
        assert columns == ["card_digest", "pin_salt", "pin_hash", "checked_at_ms"]
        save_cached_pin(conn, CachedPin(b"c" * 32, b"s" * 16, b"h" * 32, checked))
        save_cached_pin(conn, CachedPin(b"c" * 32, b"t" * 16, b"i" * 32, checked))  # replaces
        save_cached_pin(conn, CachedPin(b"d" * 32, b"s" * 16, b"h" * 32, checked - timedelta(days=9)))
        assert {(row.pin_salt, row.checked_at) for row in load_cached_pins(conn)} == {
            (b"t" * 16, checked),
            (b"s" * 16, checked - timedelta(days=9)),
        }
        assert purge_cached_pins(conn, checked - timedelta(days=7)) == 1
        assert delete_cached_pin(conn, b"c" * 32) and not delete_cached_pin(conn, b"c" * 32)
        assert load_cached_pins(conn) == []
