"""CSV import: header checks, every kind of bad row, all-or-nothing, counts and PIN handling."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date

import pytest

from controller.domain.members import NEVER, Category
from controller.services.member_import import ImportRejected, parse_member_csv
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime
from tests.helpers import HEADER, csv_file, csv_line

TODAY = date(2026, 11, 25)


@pytest.fixture
def admin(runtime: Runtime, clock):
    conn = runtime.connection()
    yield MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "entrance")
    conn.close()


def db_snapshot(runtime: Runtime) -> tuple:
    """Everything stored about members, read straight from the database file."""
    with closing(sqlite3.connect(runtime.db.path)) as conn:
        return (
            conn.execute("SELECT * FROM members ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM cards ORDER BY card").fetchall(),
        )


def test_good_import_reports_counts(admin):
    counts = admin.import_csv(csv_file(*(csv_line(n) for n in range(1, 6))), "test")
    assert (counts.added, counts.updated, counts.unchanged, counts.removed) == (5, 0, 0, 0)
    # Second file: 1 unchanged... 2 changed name, 3 new PIN, 4-5 gone, 6 new.
    counts = admin.import_csv(
        csv_file(csv_line(1), csv_line(2, name="X.Y."), csv_line(3, pin="5678"), csv_line(6)), "test"
    )
    assert (counts.added, counts.updated, counts.unchanged, counts.removed) == (1, 2, 1, 2)


def test_rejected_import_leaves_the_stored_list_exactly_as_it_was(admin, runtime):
    admin.import_csv(csv_file(*(csv_line(n) for n in range(1, 4))), "test")
    before = db_snapshot(runtime)
    bad = csv_file(csv_line(1), csv_line(2, name="Changed"), csv_line(7, pin="12"), csv_line(8))
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(bad, "test")
    assert [str(e) for e in rejected.value.errors] == ["line 4: PIN must be 4 to 6 digits"]
    assert db_snapshot(runtime) == before


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (csv_line(2, cards="12AB"), "card …12AB: unknown card format"),
        (csv_line(2, cards=""), "no card number"),
        (csv_line(2, valid_until="31-02-2027"), "valid_until '31-02-2027' is not a date"),
        (csv_line(2, valid_until=""), "valid_until is empty"),
        (csv_line(2, birth_date="gisteren"), "birth_date 'gisteren' is not a date"),
        (csv_line(2, pin="12345678"), "PIN must be 4 to 6 digits"),
        (csv_line(2, pin="12a4"), "PIN must be 4 to 6 digits"),
        (csv_line(2, cards="29990000000001"), "duplicate card …0001 (also on line 2)"),
        (csv_line(1, cards="29990000000099"), "duplicate patron_id P00001 (also on line 2)"),
        (csv_line(2, blocked="misschien"), "blocked must be yes/no"),
        (csv_line(2, category="boss"), "category must be 'member' or 'staff'"),
        (csv_line(2, patron_id=""), "patron_id is empty"),
        (csv_line(2, name=""), "name is empty"),
        ("P00002;29990000000002;T.2.", "expected 9 fields, found 3"),
    ],
)
def test_each_bad_row_is_named_with_its_line(line, message):
    with pytest.raises(ImportRejected) as rejected:
        parse_member_csv(csv_file(csv_line(1), line), TODAY)
    errors = [str(e) for e in rejected.value.errors]
    assert len(errors) == 1 and errors[0].startswith("line 3: ") and message in errors[0], errors


def test_every_bad_row_is_listed_not_just_the_first():
    data = csv_file(
        csv_line(1, pin="1"), csv_line(2), csv_line(3, valid_until="x"), csv_line(4, cards="abc", pin="x")
    )
    with pytest.raises(ImportRejected) as rejected:
        parse_member_csv(data, TODAY)
    assert [e.line for e in rejected.value.errors] == [2, 4, 5, 5]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER.replace("valid_until", "valid"), "missing column 'valid_until'"),
        (HEADER.replace("birth_date", "born"), "missing column 'birth_date' or 'adult'"),
        (HEADER + ";favourite_colour", "unknown column 'favourite_colour'"),
        (HEADER + ";pin", "column 'pin' appears twice"),
    ],
)
def test_header_is_checked(header, message):
    with pytest.raises(ImportRejected) as rejected:
        parse_member_csv(csv_file(header=header), TODAY)
    assert any(message in str(e) and e.line == 1 for e in rejected.value.errors)


def test_empty_and_non_utf8_files_are_refused_with_a_reason():
    with pytest.raises(ImportRejected, match="rejected") as rejected:
        parse_member_csv(b"", TODAY)
    assert "empty" in str(rejected.value.errors[0])
    with pytest.raises(ImportRejected) as rejected:
        parse_member_csv(csv_file(csv_line(1)).replace(b"T.1.", b"Th\xe9o"), TODAY)
    assert "not UTF-8" in str(rejected.value.errors[0]) and rejected.value.errors[0].line == 2


def test_bom_comma_separator_quoting_and_crlf_are_accepted():
    header = HEADER.replace(";", ",")
    lines = [csv_line(1).replace(";", ","), csv_line(2, name='"Jansen, P."').replace(";", ",")]
    data = b"\xef\xbb\xbf" + "\r\n".join([header, *lines]).encode() + b"\r\n"
    rows = parse_member_csv(data, TODAY)
    assert [row.display_name for _, row in rows] == ["T.1.", "Jansen, P."]


def test_field_values_are_interpreted():
    header = "patron_id;cards;name;adult;openplus_registered;valid_until;blocked_until;category;pin"
    data = csv_file(
        "A1;2999 0000 0000 01|0003887558;A.;ja;;31-12-2027;2026-12-01;staff;",
        "A2;29990000000002;B.;nee;2026-01-01;2027-01-01;;;123456",
        header=header,
    )
    (_, first), (_, second) = parse_member_csv(data, TODAY)
    assert first.cards == ("29990000000001", "0003887558")
    assert first.adult_on == TODAY and first.openplus_registered_on is None
    assert first.valid_until == date(2027, 12, 31) and first.category is Category.STAFF
    assert first.entry_blocked and first.blocked_until == date(2026, 12, 1)
    assert first.pin is None
    assert second.adult_on == NEVER and second.pin == "123456"


def test_birth_date_is_turned_into_the_18th_birthday_only():
    data = csv_file(csv_line(1, birth_date="2008-02-29"))
    ((_, row),) = parse_member_csv(data, TODAY)
    assert row.adult_on == date(2026, 3, 1)


def test_row_without_pin_keeps_the_stored_pin(admin, runtime, clock):
    admin.import_csv(csv_file(csv_line(1, pin="4321")), "test")
    with closing(runtime.connection()) as conn:
        before = runtime.members(conn).get("P00001")
    counts = admin.import_csv(csv_file(csv_line(1, pin="")), "test")
    assert counts.unchanged == 1
    with closing(runtime.connection()) as conn:
        after = runtime.members(conn).get("P00001")
    assert after.pin_hash == before.pin_hash and runtime.hasher.verify("4321", after.pin_salt, after.pin_hash)


def test_staff_entries_survive_an_import_and_keep_their_cards(admin, runtime):
    admin.import_csv(csv_file(csv_line(1), csv_line(9, category="staff")), "test")
    counts = admin.import_csv(csv_file(csv_line(1)), "test")
    assert counts.removed == 0
    with closing(runtime.connection()) as conn:
        assert runtime.members(conn).get("P00009").category is Category.STAFF
    before = db_snapshot(runtime)
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(csv_file(csv_line(1), csv_line(2, cards="29990000000009")), "test")
    assert [str(e) for e in rejected.value.errors] == ["line 3: card already belongs to staff entry P00009"]
    assert db_snapshot(runtime) == before


def test_dry_run_counts_without_changing_anything(admin, runtime):
    admin.import_csv(csv_file(csv_line(1), csv_line(2)), "test")
    before = db_snapshot(runtime)
    counts = admin.import_csv(csv_file(csv_line(2), csv_line(3)), "test", dry_run=True)
    assert (counts.added, counts.removed, counts.unchanged) == (1, 1, 1)
    assert db_snapshot(runtime) == before


def test_import_is_audited_with_its_counts(admin, runtime):
    admin.import_csv(csv_file(csv_line(1)), "cli:alice")
    with closing(runtime.connection()) as conn:
        (event,) = runtime.events(conn).query()
    assert event.actor == "cli:alice" and "added=1" in event.detail


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            csv_line(2, birth_date="9982-01-01"),
            "birth_date '9982-01-01' is not between 1900-01-01 and 2026-11-25",
        ),
        (
            csv_line(2, birth_date="31-12-9999"),
            "birth_date '31-12-9999' is not between 1900-01-01 and 2026-11-25",
        ),
        (
            csv_line(2, birth_date="2026-11-26"),  # tomorrow: not born yet
            "birth_date '2026-11-26' is not between 1900-01-01 and 2026-11-25",
        ),
        (
            csv_line(2, birth_date="1899-12-31"),
            "birth_date '1899-12-31' is not between 1900-01-01 and 2026-11-25",
        ),
        (
            csv_line(2, valid_until="9999-12-31"),
            "valid_until '9999-12-31' is not between 1970-01-01 and 9998-12-31",
        ),
        (
            csv_line(2, openplus_registered="01-01-1969"),
            "openplus_registered '01-01-1969' is not between 1970-01-01 and 9998-12-31",
        ),
    ],
)
def test_dates_outside_their_range_are_a_row_problem(line, message):
    """A birth date in year 9982 or later made adult_on overflow (a 500 on the API, a
    traceback on the CLI): birth dates must lie in 1900..today, other dates in 1970..9998."""
    with pytest.raises(ImportRejected) as rejected:
        parse_member_csv(csv_file(csv_line(1), line), TODAY)
    assert [str(e) for e in rejected.value.errors] == [f"line 3: {message}"]


def test_birth_date_today_and_in_1900_are_accepted():
    data = csv_file(
        csv_line(1, birth_date="1900-01-01"),
        csv_line(2, birth_date="25-11-2026"),
        csv_line(3, blocked_until="9998-12-31", valid_until="1970-01-01"),
    )
    rows = parse_member_csv(data, TODAY)
    assert [row.adult_on for _, row in rows] == [date(1918, 1, 1), date(2044, 11, 25), date(1998, 5, 1)]


def test_far_future_birth_date_through_the_admin_changes_nothing(admin, runtime):
    admin.import_csv(csv_file(csv_line(1)), "test")
    before = db_snapshot(runtime)
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(csv_file(csv_line(1), csv_line(2, birth_date="9999-12-31")), "test")
    assert [e.line for e in rejected.value.errors] == [3]
    assert "birth_date '9999-12-31' is not between" in str(rejected.value.errors[0])
    assert db_snapshot(runtime) == before


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("evil\u202etxt.exe", "name: character 5 (U+202E) is a control or invisible character"),
        ("A.\ufeffB.", "name: character 3 (U+FEFF) is a control or invisible character"),
        ("A\x00B", "name: character 2 (U+0000) is a control or invisible character"),
        ("A\u200bB", "name: character 2 (U+200B) is a control or invisible character"),
    ],
)
def test_a_name_with_control_or_invisible_characters_is_a_row_problem(admin, runtime, name, problem):
    """The API's rule for names (controller/domain/text.py): "evil\\u202etxt.exe" reads as
    "evilexe.txt", and a NUL or a byte-order mark inside a name is a broken export."""
    before = db_snapshot(runtime)
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(csv_file(csv_line(1), csv_line(2, name=name)), "test")
    assert [str(e) for e in rejected.value.errors] == [f"line 3: {problem}, which is not allowed"]
    assert rejected.value.errors[0].reason.key == "import.bad_name"
    assert db_snapshot(runtime) == before


def test_names_in_other_scripts_and_with_accents_are_fine(admin):
    counts = admin.import_csv(
        csv_file(
            csv_line(1, name="Zoë\u00a0Ĳsselmeer"), csv_line(2, name="李小龍"), csv_line(3, name="Ümit")
        ),
        "test",
    )
    assert counts.added == 3
