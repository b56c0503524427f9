"""The local list's fields from issues 13 and 14 (an entry block's note, a guardian's consent,
"more time") through the migration, the store, the CSV import and MemberAdmin; and the
local list's role when the library system checks PINs (lms.enabled)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date

import pytest

from controller.config.settings import parse_settings
from controller.domain.members import BLOCK_NOTE_MAX_LENGTH, Category, MemberStatus
from controller.services.member_import import ImportRejected
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime
from controller.store import SCHEMA_VERSION, Database
from controller.store.members import MemberError
from controller.store.migrations import MIGRATIONS
from tests.api.api_support import events_of
from tests.helpers import HEADER, add_member, csv_file, csv_line, member_row

NEW_COLUMNS = "block_note;guardian_consent;more_time"


@pytest.fixture
def admin(runtime: Runtime, clock):
    conn = runtime.connection()
    yield MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "entrance")
    conn.close()


def stored(runtime: Runtime, patron_id: str):
    with closing(runtime.connection()) as conn:
        return runtime.members(conn).get(patron_id)


def with_new_columns(
    number: int, note: str = "", consent: str = "", more_time: str = "", **overrides: str
) -> str:
    return ";".join((csv_line(number, **overrides), note, consent, more_time))


def new_file(*lines: str) -> bytes:
    return csv_file(*lines, header=f"{HEADER};{NEW_COLUMNS}")


# --- migration and store ------------------------------------------------------------------
def test_a_database_at_schema_8_gains_the_member_fields_and_keeps_its_members(tmp_path):
    path = tmp_path / "door.db"
    Database(path, migrations=MIGRATIONS[:8])  # as the program before these fields left it
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "INSERT INTO members (patron_id, display_name, adult_on, valid_until, entry_blocked, "
            "blocked_until, category, updated_ms) VALUES "
            "('OLD1', 'O.', '2000-01-01', '2030-01-01', 1, '2027-01-31', 'member', 0)"
        )
        conn.commit()
    db = Database(path)
    assert db.schema_version() == SCHEMA_VERSION >= 9
    with closing(db.connect()) as conn:
        row = conn.execute(
            "SELECT patron_id, entry_blocked, blocked_until, block_note, "
            "guardian_consent, more_time FROM members"
        ).fetchone()
    assert tuple(row) == ("OLD1", 1, "2027-01-31", None, 0, 0)


def test_store_round_trip_of_note_and_flags(runtime: Runtime, clock):
    add_member(runtime, 1, guardian_consent=True, more_time=True)
    member = stored(runtime, "P00001")
    assert (member.guardian_consent, member.more_time, member.block_note) == (True, True, None)
    with closing(runtime.connection()) as conn:
        store = runtime.members(conn)
        store.set_blocked("P00001", True, date(2027, 1, 31), clock(), "Broke the kiosk")
        store.set_flags("P00001", clock(), more_time=False)
    member = stored(runtime, "P00001")
    assert (member.entry_blocked, member.blocked_until, member.block_note) == (
        True,
        date(2027, 1, 31),
        "Broke the kiosk",
    )
    assert (member.guardian_consent, member.more_time) == (True, False)
    with closing(runtime.connection()) as conn:
        runtime.members(conn).set_blocked("P00001", False, None, clock())
        with pytest.raises(MemberError, match="not on the list"):
            runtime.members(conn).set_flags("NOBODY", clock(), guardian_consent=True)
    member = stored(runtime, "P00001")
    assert (member.entry_blocked, member.blocked_until, member.block_note) == (False, None, None)


# --- MemberAdmin: audit without personal data -----------------------------------------------
def test_block_note_and_flags_are_audited_without_the_notes_words(admin, runtime):
    add_member(runtime, 1)
    admin.block("P00001", "cli:ann", date(2027, 1, 31), "Shouted at J. Jansen")
    admin.set_flags("P00001", "cli:ann", guardian_consent=True)
    admin.set_flags("P00001", "cli:ann", guardian_consent=False, more_time=True)
    audit = [(e["reason"], e["detail"]) for e in events_of(runtime, "type = 'admin_change'")]
    assert audit == [
        ("member blocked", "P00001 until=2027-01-31 note=yes"),
        ("member flags set", "P00001 guardian_consent=yes"),
        ("member flags set", "P00001 guardian_consent=no more_time=yes"),
    ]
    assert stored(runtime, "P00001").block_note == "Shouted at J. Jansen"


# --- CSV import ---------------------------------------------------------------------------
def test_import_reads_the_optional_columns(admin, runtime):
    admin.import_csv(
        new_file(
            with_new_columns(1, "Damaged the door", "nee", "ja", blocked="ja"),
            with_new_columns(2, "", "ja", ""),
        ),
        "test",
    )
    first, second = stored(runtime, "P00001"), stored(runtime, "P00002")
    assert (first.entry_blocked, first.block_note, first.guardian_consent, first.more_time) == (
        True,
        "Damaged the door",
        False,
        True,
    )
    assert (second.entry_blocked, second.block_note, second.guardian_consent, second.more_time) == (
        False,
        None,
        True,
        False,
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            with_new_columns(2, consent="misschien"),
            "guardian_consent must be yes/no (ja/nee, 1/0), not 'misschien'",
        ),
        (with_new_columns(2, more_time="2"), "more_time must be yes/no (ja/nee, 1/0), not '2'"),
        (with_new_columns(2, note="Why"), "block_note is filled in but the row is not blocked"),
        (
            with_new_columns(2, note="x" * (BLOCK_NOTE_MAX_LENGTH + 1), blocked="ja"),
            f"block_note is longer than {BLOCK_NOTE_MAX_LENGTH} characters",
        ),
        (
            with_new_columns(2, note="evil\u202etxt", blocked="ja"),
            "block_note: character 5 (U+202E) is a control or invisible character",
        ),
    ],
)
def test_bad_values_in_the_new_columns_are_row_errors_naming_the_column(admin, line, message):
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(new_file(with_new_columns(1), line), "test")
    [error] = rejected.value.errors
    assert error.line == 3 and message in str(error.reason)


def test_a_file_without_the_flag_columns_keeps_what_a_manager_set(admin, runtime):
    admin.import_csv(csv_file(csv_line(1), csv_line(2)), "test")
    admin.set_flags("P00001", "web:manny", guardian_consent=True, more_time=True)
    counts = admin.import_csv(csv_file(csv_line(1), csv_line(2), csv_line(3)), "test")
    assert (counts.added, counts.updated, counts.unchanged) == (1, 0, 2)
    kept = stored(runtime, "P00001")
    assert (kept.guardian_consent, kept.more_time) == (True, True)
    assert not stored(runtime, "P00003").more_time  # a new entry: no
    # Only more_time in the file: it is the file's word; guardian_consent stays as stored.
    counts = admin.import_csv(
        csv_file(csv_line(1) + ";nee", csv_line(2) + ";ja", header=f"{HEADER};more_time"), "test"
    )
    assert (counts.updated, counts.removed) == (2, 1)
    first, second = stored(runtime, "P00001"), stored(runtime, "P00002")
    assert (first.guardian_consent, first.more_time) == (True, False)
    assert (second.guardian_consent, second.more_time) == (False, True)
    # Only guardian_consent in the file (kept: more_time alone, not the last-columns case).
    admin.import_csv(
        csv_file(csv_line(1) + ";nee", csv_line(2) + ";ja", header=f"{HEADER};guardian_consent"), "test"
    )
    first, second = stored(runtime, "P00001"), stored(runtime, "P00002")
    assert (first.guardian_consent, first.more_time) == (False, False)
    assert (second.guardian_consent, second.more_time) == (True, True)


def test_a_file_without_the_block_columns_keeps_the_blocks_as_stored(admin, runtime):
    """A nightly export that does not know about blocks must not lift one a manager (or the
    fleet's shared list) set; a file with a block column says it for every row."""
    columns = HEADER.split(";")
    no_blocks = ";".join(c for c in columns if c != "blocked")

    def line(number: int) -> str:
        values = dict(zip(columns, csv_line(number).split(";"), strict=True))
        return ";".join(v for c, v in values.items() if c != "blocked")

    admin.import_csv(csv_file(line(1), line(2), header=no_blocks), "test")
    admin.block("P00001", "web:manny", date(2030, 1, 1), "lent card")
    counts = admin.import_csv(csv_file(line(1), line(2), line(3), header=no_blocks), "test")
    assert (counts.added, counts.updated) == (1, 0)
    kept = stored(runtime, "P00001")
    assert (kept.entry_blocked, kept.blocked_until, kept.block_note) == (True, date(2030, 1, 1), "lent card")
    assert not stored(runtime, "P00003").entry_blocked  # a new entry: not blocked
    admin.import_csv(csv_file(csv_line(1), csv_line(2)), "test")  # the file's blocked column: no
    assert not stored(runtime, "P00001").entry_blocked


# --- the local list's role with the LMS ---------------------------------------------------
def lms_runtime(runtime: Runtime, clock, enabled: bool) -> Runtime:
    settings = parse_settings(
        {"storage": {"data_dir": str(runtime.settings.data_dir)}, "lms": {"enabled": enabled}}, "test"
    )
    return Runtime.open(settings, clock=clock)


@pytest.mark.parametrize("lms", [True, False])
def test_a_file_without_a_pin_column_is_taken_and_stored_pins_stay(runtime, clock, lms):
    """With the LMS, members' PINs are the LMS's: an export without PINs is the usual file.
    Without it the import is as it always was (the pin column was never required). Either
    way a PIN stored earlier (set by staff: offline policy allow-registered and staff cards
    use it) is kept, and a file that has a PIN for a row sets it."""
    branch = lms_runtime(runtime, clock, lms)
    with closing(branch.connection()) as conn:
        admin = MemberAdmin(branch.members(conn), branch.events(conn), clock, "entrance")
        admin.import_csv(csv_file(csv_line(1, pin="4321"), csv_line(2, pin="")), "test")
        without_pin = HEADER.removesuffix(";pin")
        lines = [csv_line(n).removesuffix(";1234") for n in (1, 2, 3)]
        counts = admin.import_csv(csv_file(*lines, header=without_pin), "test")
        assert (counts.added, counts.unchanged) == (1, 2)
        members = {n: branch.members(conn).get(f"P0000{n}") for n in (1, 2, 3)}
    assert branch.hasher.verify("4321", members[1].pin_salt, members[1].pin_hash)
    assert not members[2].has_pin and not members[3].has_pin


def test_with_the_lms_a_member_without_a_pin_is_not_shown_as_kept_out_for_it(clock):
    today, now = clock().date(), clock()
    member = _member(member_row(1, pin=None), Category.MEMBER)
    staff = _member(member_row(2, pin=None), Category.STAFF)
    assert MemberStatus.NO_PIN in member.status(today, now)
    assert MemberStatus.NO_PIN not in member.status(today, now, lms=True)
    assert MemberStatus.NO_PIN in staff.status(today, now, lms=True)  # decided locally


def _member(row, category):
    from controller.domain.members import Member

    return Member(
        id=1,
        patron_id=row.patron_id,
        display_name=row.display_name,
        cards=row.cards,
        adult_on=row.adult_on,
        valid_until=row.valid_until,
        openplus_registered_on=row.openplus_registered_on,
        entry_blocked=False,
        blocked_until=None,
        category=category,
    )
