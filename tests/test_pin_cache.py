"""The LMS PIN cache: read in memory on the door thread, written behind on its own thread."""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from controller.domain.pins import PinHasher
from controller.services.pin_cache import LmsPinCache
from controller.store import Database
from controller.store.lms_cache import load_cached_pins
from tests.conftest import FakeClock

CARD = "29990000000001"
OTHER = "29990000000002"
PIN = "918273"
KEY = b"k" * 32
HANG_GUARD = 10.0  # seconds; far above any real wait, only so a regression fails, not hangs


@pytest.fixture
def db(tmp_path) -> Database:
    return Database(tmp_path / "door.db")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, tzinfo=UTC))


def open_cache(
    db: Database, clock: FakeClock, *, key: bytes = KEY, cache_days: int = 7, connect=None, **options
) -> LmsPinCache:
    cache = LmsPinCache(PinHasher(key), connect or db.connect, cache_days=cache_days, clock=clock, **options)
    cache.start()
    return cache


@pytest.fixture
def cache(db, clock):
    cache = open_cache(db, clock)
    yield cache
    cache.close()


def stored_rows(db: Database) -> list[tuple]:
    with closing(db.connect()) as conn:
        return [tuple(row) for row in conn.execute("SELECT * FROM lms_pin_cache")]


def test_a_remembered_card_checks_its_pin_and_an_unknown_card_is_none(cache, clock):
    cache.remember(CARD, PIN, clock())
    assert cache.check(CARD, PIN, clock()) is True
    assert cache.check(CARD, "123456", clock()) is False
    assert cache.check(OTHER, PIN, clock()) is None


def test_a_yes_counts_for_cache_days_and_not_a_moment_longer(cache, clock):
    checked = clock()
    cache.remember(CARD, PIN, checked)
    assert cache.check(CARD, PIN, checked + timedelta(days=7)) is True
    assert cache.check(CARD, PIN, checked + timedelta(days=7, milliseconds=1)) is None
    assert cache.check(CARD, "123456", checked + timedelta(days=8)) is None  # nor a wrong PIN


def test_remember_replaces_the_pin_kept_for_a_card(cache, db, clock):
    cache.remember(CARD, "1111", clock())
    cache.remember(CARD, "2222", clock.advance(hours=1))
    assert cache.check(CARD, "1111", clock()) is False
    assert cache.check(CARD, "2222", clock()) is True
    assert cache.flush(HANG_GUARD)
    assert len(stored_rows(db)) == 1


def test_forget_drops_the_card_from_memory_and_database(cache, db, clock):
    cache.remember(CARD, PIN, clock())
    cache.remember(OTHER, PIN, clock())
    cache.forget(CARD)
    assert cache.check(CARD, PIN, clock()) is None
    assert cache.check(OTHER, PIN, clock()) is True
    assert cache.flush(HANG_GUARD)
    assert len(stored_rows(db)) == 1


def test_purge_drops_entries_older_than_cache_days_in_memory_and_database(cache, db, clock):
    cache.remember(CARD, PIN, clock())
    cache.remember(OTHER, PIN, clock.advance(days=5))
    assert cache.purge(clock.advance(days=3)) == 1  # CARD is 8 days old, OTHER 3
    assert cache.check(CARD, PIN, clock() - timedelta(days=2)) is None  # gone, not just stale
    assert cache.check(OTHER, PIN, clock()) is True
    assert cache.flush(HANG_GUARD)
    with closing(db.connect()) as conn:
        assert [row.checked_at for row in load_cached_pins(conn)] == [clock() - timedelta(days=3)]


def test_the_writer_purges_once_a_day_by_the_injected_clock(cache, db, clock):
    cache.remember(CARD, PIN, clock())
    clock.advance(days=8)
    cache.remember(OTHER, PIN, clock())  # any write wakes the writer, which finds a purge due
    assert cache.flush(HANG_GUARD)
    assert len(cache) == 1 and len(stored_rows(db)) == 1
    assert cache.check(OTHER, PIN, clock()) is True


def test_the_cache_survives_a_restart_and_stale_rows_are_dropped_at_start(db, clock):
    first = open_cache(db, clock)
    first.remember(CARD, PIN, clock())
    first.remember(OTHER, PIN, clock() - timedelta(days=6))
    first.close()
    clock.advance(days=2)  # OTHER is 8 days old by now
    second = open_cache(db, clock)
    try:
        assert second.check(CARD, PIN, clock()) is True
        assert second.check(CARD, "123456", clock()) is False
        assert second.check(OTHER, PIN, clock()) is None
        assert second.flush(HANG_GUARD)
        assert len(stored_rows(db)) == 1
    finally:
        second.close()


def test_another_pin_key_finds_nothing_rather_than_a_wrong_pin(db, clock):
    first = open_cache(db, clock)
    first.remember(CARD, PIN, clock())
    first.close()
    other_key = open_cache(db, clock, key=b"o" * 32)
    try:
        assert other_key.check(CARD, PIN, clock()) is None  # an empty cache, not wrong_pin
    finally:
        other_key.close()


def test_no_card_number_or_pin_in_clear_in_the_database(cache, db, clock):
    cache.remember(CARD, PIN, clock())
    assert cache.flush(HANG_GUARD)
    rows = stored_rows(db)
    assert len(rows) == 1
    assert CARD not in repr(rows) and PIN not in repr(rows)
    blob = b"".join(value if isinstance(value, bytes) else str(value).encode() for value in rows[0])
    assert CARD.encode() not in blob and PIN.encode() not in blob
    with closing(db.connect()) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    file_bytes = db.path.read_bytes()
    assert CARD.encode() not in file_bytes and PIN.encode() not in file_bytes
    with closing(db.connect()) as conn:
        assert CARD not in repr(cache) and "pin_hash" not in repr(load_cached_pins(conn))


def test_writes_happen_on_the_writer_thread_and_a_blocked_database_never_blocks_remember(db, clock):
    gate = threading.Event()
    writer_threads: list[int] = []
    loaded = threading.Event()

    def connect() -> sqlite3.Connection:
        if loaded.is_set():  # the writer's connection, not the one start() loads with
            writer_threads.append(threading.get_ident())
            gate.wait(3 * HANG_GUARD)  # longer than the join below: a blocked remember fails it
        loaded.set()
        return db.connect()

    cache = open_cache(db, clock, connect=connect)
    try:
        door = threading.Thread(target=lambda: [cache.remember(CARD, PIN, clock()), cache.forget(OTHER)])
        door.start()
        door.join(HANG_GUARD)
        assert not door.is_alive()  # returned while the writer waits on the database
        assert cache.check(CARD, PIN, clock()) is True  # memory has it already
        assert stored_rows(db) == []
        gate.set()
        assert cache.flush(HANG_GUARD)
        assert len(stored_rows(db)) == 1
        assert writer_threads and threading.get_ident() not in writer_threads
        assert door.ident not in writer_threads
    finally:
        gate.set()
        cache.close()


def test_a_failing_write_is_logged_never_raised_and_the_writer_carries_on(db, clock, caplog):
    failing = threading.Event()
    failing.set()

    def connect() -> sqlite3.Connection:
        if failing.is_set() and loaded:
            raise sqlite3.OperationalError("disk I/O error")
        loaded.append(True)
        return db.connect()

    loaded: list[bool] = []
    cache = open_cache(db, clock, connect=connect)
    try:
        with caplog.at_level(logging.ERROR, logger="controller.services.pin_cache"):
            cache.remember(CARD, PIN, clock())  # raises nothing
            assert cache.flush(HANG_GUARD)
        assert "save card …0001 failed" in caplog.text
        assert CARD not in caplog.text and PIN not in caplog.text
        assert cache.check(CARD, PIN, clock()) is True
        failing.clear()
        cache.remember(OTHER, PIN, clock())
        assert cache.flush(HANG_GUARD)
        assert len(stored_rows(db)) == 1  # the next write landed on a fresh connection
    finally:
        cache.close()


def test_a_full_write_queue_drops_the_write_but_not_the_memory(db, clock, caplog):
    gate = threading.Event()
    loaded: list[bool] = []

    def connect() -> sqlite3.Connection:
        if loaded:
            gate.wait(HANG_GUARD)
        loaded.append(True)
        return db.connect()

    cache = open_cache(db, clock, connect=connect, queue_size=1)
    try:
        with caplog.at_level(logging.WARNING, logger="controller.services.pin_cache"):
            for n in range(5):
                cache.remember(f"2999000000001{n}", PIN, clock())
        assert "write queue full" in caplog.text
        assert all(cache.check(f"2999000000001{n}", PIN, clock()) for n in range(5))
    finally:
        gate.set()
        cache.close()


def test_a_database_that_cannot_be_read_at_start_gives_an_empty_cache(db, clock, caplog):
    def connect() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    with caplog.at_level(logging.ERROR, logger="controller.services.pin_cache"):
        cache = open_cache(db, clock, connect=connect)
    try:
        assert len(cache) == 0 and "starting empty" in caplog.text
        cache.remember(CARD, PIN, clock())
        assert cache.check(CARD, PIN, clock()) is True
    finally:
        cache.close()


@pytest.mark.parametrize("pin", ["", "12", "12ab", "1234567", "١٢٣٤"])
def test_a_pin_that_is_not_4_to_6_digits_is_never_cached(cache, db, clock, caplog, pin):
    with caplog.at_level(logging.WARNING, logger="controller.services.pin_cache"):
        cache.remember(CARD, pin, clock())
    assert "not 4-6 digits" in caplog.text and CARD not in caplog.text
    assert cache.check(CARD, pin, clock()) is None
    assert cache.flush(HANG_GUARD) and stored_rows(db) == []


def test_an_empty_card_is_never_cached_and_checks_as_nothing(cache, db, clock):
    cache.remember("", PIN, clock())
    cache.forget("")
    assert cache.check("", PIN, clock()) is None
    assert cache.flush(HANG_GUARD) and stored_rows(db) == []


def test_an_empty_pin_for_a_cached_card_is_a_wrong_one(cache, clock):
    cache.remember(CARD, PIN, clock())
    assert cache.check(CARD, "", clock()) is False


def test_cache_days_below_one_is_refused(db, clock):
    with pytest.raises(ValueError, match="cache_days must be at least 1"):
        LmsPinCache(PinHasher(KEY), db.connect, cache_days=0, clock=clock)


def test_close_writes_what_is_queued(db, clock):
    cache = open_cache(db, clock)
    cache.remember(CARD, PIN, clock())
    cache.close()
    assert len(stored_rows(db)) == 1
