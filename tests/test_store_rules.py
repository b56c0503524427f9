"""The storage conventions of controller.store's docstring, checked: one time codec, the
caller's transaction (savepoints inside it), the named queries, and no SQL outside the store."""

from __future__ import annotations

import ast
import re
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from controller.domain.events import Event, EventType
from controller.store import Database
from controller.store.codec import (
    day_from_text,
    day_from_text_or_none,
    day_text,
    day_text_or_none,
    from_ms,
    from_ms_or_none,
    to_ms,
    to_ms_or_none,
)
from controller.store.db import schema_version, transaction
from controller.store.events import EventLog
from controller.store.sessions import SessionStore
from controller.store.users import UserStore
from tests.helpers import member_row

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "controller" / "store"


# --- the codec ---------------------------------------------------------------------------
def test_moments_are_stored_as_utc_milliseconds_and_come_back_aware_utc() -> None:
    amsterdam_summer = timezone(timedelta(hours=2))
    moment = datetime(2026, 7, 1, 14, 30, 5, 123_456, tzinfo=amsterdam_summer)
    ms = to_ms(moment)
    assert ms == 1_782_909_005_123  # 12:30:05.123 UTC; the microseconds below are floored
    back = from_ms(ms)
    assert back.tzinfo is UTC and back == moment.replace(microsecond=123_000)
    assert to_ms(from_ms(ms)) == ms
    assert to_ms_or_none(None) is None and from_ms_or_none(None) is None


def test_every_millisecond_survives_the_round_trip() -> None:
    """The float form `int(moment.timestamp() * 1000)` can land a hair below a millisecond;
    integer arithmetic cannot (a cursor or cut-off one millisecond off skips an event)."""
    start = 1_700_000_000_000
    assert all(to_ms(from_ms(ms)) == ms for ms in range(start, start + 20_000))


def test_a_naive_datetime_is_refused_rather_than_read_as_local_time() -> None:
    with pytest.raises(ValueError, match="naive datetime 2026-01-01T12:00:00"):
        to_ms(datetime(2026, 1, 1, 12))


def test_days_are_stored_as_iso_text() -> None:
    assert day_text(date(2026, 3, 9)) == "2026-03-09"
    assert day_from_text("2026-03-09") == date(2026, 3, 9)
    assert day_text_or_none(None) is None
    assert day_from_text_or_none(None) is None and day_from_text_or_none("") is None


# --- who owns the transaction ------------------------------------------------------------
@pytest.fixture
def conn(tmp_path: Path):
    with closing(Database(tmp_path / "door.db").connect()) as connection:
        yield connection


def _event(at: datetime, kind: EventType = EventType.DOOR_OPENED) -> Event:
    return Event(type=kind, at=at, door="front")


def test_a_transaction_inside_the_callers_is_a_savepoint_and_only_the_outer_one_commits(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    other = Database(tmp_path / "door.db").connect()  # another process's view
    with transaction(conn):
        EventLog(conn).record(_event(at))
        with pytest.raises(LookupError), transaction(conn):
            EventLog(conn).record(_event(at, EventType.DOOR_CLOSED))
            raise LookupError("the inner change fails")
        with transaction(conn):
            EventLog(conn).record(_event(at, EventType.ALARM))
        assert EventLog(other).query() == []  # nothing committed while the caller's block runs
    kinds = [e.type for e in EventLog(other).query()]
    assert sorted(kinds) == [EventType.ALARM, EventType.DOOR_OPENED]  # the failed part undone
    other.close()


def test_the_callers_rollback_undoes_what_a_store_method_did_in_its_own_transaction(runtime, clock) -> None:
    """MemberStore.add makes its rows one change; inside a use case's transaction that change
    is the use case's to keep or undo (the store commits nothing the caller began)."""
    with closing(runtime.connection()) as conn:
        with pytest.raises(RuntimeError), transaction(conn):
            runtime.members(conn).add(member_row(1), clock())
            raise RuntimeError("the audit event could not be written")
        assert runtime.members(conn).count() == 0
        runtime.members(conn).add(member_row(1), clock())  # alone: its own transaction
    with closing(runtime.connection()) as other:
        assert runtime.members(other).count() == 1


class _AuditFails(EventLog):
    def record(self, event: Event) -> int:
        raise sqlite3.OperationalError("database or disk is full")


def test_a_member_change_whose_audit_event_fails_is_not_made(runtime, clock) -> None:
    from controller.services.members import MemberAdmin

    with closing(runtime.connection()) as conn:
        admin = MemberAdmin(runtime.members(conn), _AuditFails(conn), clock, "e")
        with pytest.raises(sqlite3.OperationalError):
            admin.add(member_row(1), "cli:test")
        assert runtime.members(conn).count() == 0


def test_member_admin_refuses_a_store_and_a_log_on_two_connections(runtime, clock) -> None:
    from controller.services.members import MemberAdmin

    with closing(runtime.connection()) as one, closing(runtime.connection()) as two:
        with pytest.raises(ValueError, match="one connection"):
            MemberAdmin(runtime.members(one), runtime.events(two), clock, "e")


# --- the named queries -------------------------------------------------------------------
def test_event_log_gets_one_event_by_id_and_counts_by_type_since(conn) -> None:
    log = EventLog(conn)
    midnight = datetime(2026, 3, 1, 23, tzinfo=UTC)
    log.record(_event(midnight - timedelta(milliseconds=1), EventType.ACCESS_GRANTED))
    granted = log.record(_event(midnight, EventType.ACCESS_GRANTED))
    log.record(_event(midnight + timedelta(hours=1), EventType.ACCESS_REFUSED))
    event = log.get(granted)
    assert event is not None and event.id == granted and event.at == midnight
    assert log.get(granted + 100) is None
    assert log.count(
        (EventType.ACCESS_GRANTED, EventType.ACCESS_REFUSED, EventType.ALARM), since=midnight
    ) == {EventType.ACCESS_GRANTED: 1, EventType.ACCESS_REFUSED: 1, EventType.ALARM: 0}


def test_users_by_id_count_and_schema_version(conn) -> None:
    users = UserStore(conn)
    assert users.count() == 0
    alice = users.add("alice", "hash", ["admin"], datetime(2026, 1, 1, tzinfo=UTC))
    assert users.get_by_id(alice.id) == alice and users.get_by_id(alice.id + 1) is None
    assert users.count() == 1
    assert (
        schema_version(conn)
        == Database(Path(conn.execute("PRAGMA database_list").fetchone()[2])).schema_version()
    )


def test_a_session_and_its_user_take_two_queries_not_three(conn) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    user = UserStore(conn).add("alice", "hash", ["admin"], now)
    sessions = SessionStore(conn)
    sessions.add(b"d" * 32, user.id, "csrf", now, now + timedelta(hours=8))
    queries: list[str] = []
    conn.set_trace_callback(queries.append)
    found = sessions.find(b"d" * 32)
    conn.set_trace_callback(None)
    assert found is not None and found[1] == user and len(queries) == 2


def test_a_page_of_members_reads_the_cards_in_one_query(runtime, clock) -> None:
    with closing(runtime.connection()) as conn:
        members = runtime.members(conn)
        for number in range(1, 6):
            members.add(member_row(number), clock())
        queries: list[str] = []
        conn.set_trace_callback(queries.append)
        page = members.search(limit=50)
        conn.set_trace_callback(None)
    assert [m.cards for m in page] == [member_row(n).cards for n in range(1, 6)]
    assert len(queries) == 2  # the members, then all their cards: not one query per member


def test_a_page_of_events_learns_which_have_footage_in_one_query(conn) -> None:
    from controller.store.footage import FootageStore

    log, footage = EventLog(conn), FootageStore(conn)
    base = datetime(2026, 3, 1, 12, tzinfo=UTC)
    own_clip, in_segment, in_open_segment, none = (
        log.record(_event(base + timedelta(minutes=n))) for n in (0, 10, 20, 30)
    )
    footage.add_clip(own_clip, "clips/1.mp4", to_ms(base), to_ms(base) + 5000, 50, 1000)
    footage.segment_finished(
        "seg/a.mp4", to_ms(base + timedelta(minutes=5)), to_ms(base + timedelta(minutes=15)), 100, 2000
    )
    footage.segment_started("seg/b.mp4", to_ms(base + timedelta(minutes=19)))  # still recording
    queries: list[str] = []
    conn.set_trace_callback(queries.append)
    found = footage.events_with_footage([own_clip, in_segment, in_open_segment, none])
    conn.set_trace_callback(None)
    assert found == {own_clip, in_segment} and len(queries) == 1
    assert footage.events_with_footage([]) == set()


# --- no SQL outside controller/store -----------------------------------------------------
# A statement: an upper-case keyword and more words after it ("DELETE" alone is an HTTP method;
# a bare "COMMIT" would go through execute(), which the check catches on its own).
SQL_START = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|PRAGMA|CREATE|DROP|ALTER|"
    r"BEGIN|SAVEPOINT|RELEASE|VACUUM|WITH)\s+\S"
)
SQL_CALLS = {"execute", "executemany", "executescript"}
# (file, the call's receiver) -> why it is not SQL
NOT_SQL = {
    ("controller/sim/console.py", "self"): "the simulator console's own command dispatcher",
}


def sql_outside_the_store(root: Path = ROOT) -> list[str]:
    """file:line of each SQL string or cursor call in controller/ outside controller/store/."""
    found = []
    store = root / "controller" / "store"
    for path in sorted((root / "controller").rglob("*.py")):
        if store in path.parents:
            continue
        name = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), name)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_START.match(node.value):
                found.append(f"{name}:{node.lineno}: {node.value[:40]!r}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
                and (name, ast.unparse(node.func.value)) not in NOT_SQL
            ):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node.func)}(...)")
    return sorted(found)


def test_no_sql_outside_the_store() -> None:
    assert sql_outside_the_store() == []


def test_the_sql_check_finds_queries_and_cursor_calls_but_not_in_the_store(tmp_path: Path) -> None:
    (tmp_path / "controller" / "web").mkdir(parents=True)
    (tmp_path / "controller" / "store").mkdir()
    (tmp_path / "controller" / "web" / "page.py").write_text(
        'rows = conn.execute("SELECT * FROM events")\n'
        "conn.executemany(statement, rows)\n"
        'text = f"DELETE FROM x WHERE id = {n}"\n'
        'label = "Select a day"\n'
        'methods = ("GET", "DELETE")\n'
    )
    (tmp_path / "controller" / "store" / "log.py").write_text('rows = conn.execute("SELECT * FROM events")\n')
    assert sql_outside_the_store(tmp_path) == [
        "controller/web/page.py:1: 'SELECT * FROM events'",
        "controller/web/page.py:1: conn.execute(...)",
        "controller/web/page.py:2: conn.executemany(...)",
        "controller/web/page.py:3: 'DELETE FROM x WHERE id = '",
    ]
