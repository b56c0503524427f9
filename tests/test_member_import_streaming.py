"""The streaming member import: memory that does not grow with the file, duplicates found
across the whole file, bounded problem lists, and the CLI's one-line refusal of a bad date."""

from __future__ import annotations

import io
import sqlite3
import tracemalloc
from contextlib import closing

import pytest

from controller.cli.main import main
from controller.domain.problems import MAX_PROBLEMS_NAMED
from controller.services.member_import import BATCH_ROWS, ImportRejected, parse_member_csv
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime
from tests.helpers import HEADER, csv_file, csv_line, member_row
from tests.test_member_import import TODAY, db_snapshot


@pytest.fixture
def admin(runtime: Runtime, clock):
    conn = runtime.connection()
    yield MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "entrance")
    conn.close()


def export(count: int, first: int = 1) -> bytes:
    return csv_file(*(csv_line(n) for n in range(first, first + count)))


def peak_bytes_of_import(admin: MemberAdmin, data: bytes) -> int:
    """Peak Python memory while importing `data` (the file's own bytes not counted)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        admin.import_csv(data, "test")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow  # imports a list big enough to show growth
def test_memory_does_not_grow_with_the_file(admin):
    """The old import kept every row, a set of every patron id and card, and a dict of the
    whole stored list: memory grew with the file (1.4 GB for a million rows). Now rows are
    staged in batches, so eight times the rows costs about the same memory, both for a new
    list and for the daily re-import of an unchanged one."""
    small, big = export(1_500), export(12_000)
    fresh_small = peak_bytes_of_import(admin, small)
    again_small = peak_bytes_of_import(admin, small)
    admin.import_csv(csv_file(), "test")  # empty the list again
    fresh_big = peak_bytes_of_import(admin, big)
    again_big = peak_bytes_of_import(admin, big)
    assert fresh_big < 1.5 * fresh_small, (fresh_small, fresh_big)
    assert again_big < 1.5 * again_small, (again_small, again_big)


def test_a_binary_file_is_read_as_a_stream(admin, runtime):
    counts = admin.import_csv(io.BytesIO(export(3)), "test")
    assert (counts.added, counts.unchanged) == (3, 0)
    with closing(runtime.connection()) as conn:
        assert runtime.members(conn).count() == 3


def test_duplicates_are_found_across_batches(admin, runtime):
    lines = [csv_line(n) for n in range(1, 2 * BATCH_ROWS + 10)]
    lines.append(csv_line(1, cards="29990000099999"))  # patron P00001 again, far below
    lines.append(csv_line(99_999, cards="29990000000002"))  # card of line 3 again
    before = db_snapshot(runtime)
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(csv_file(*lines), "test")
    last = len(lines) + 1
    assert [str(e) for e in rejected.value.errors] == [
        f"line {last - 1}: duplicate patron_id P00001 (also on line 2)",
        f"line {last}: duplicate card …0002 (also on line 3)",
    ]
    assert db_snapshot(runtime) == before


def test_the_same_card_twice_on_one_row_is_a_duplicate_not_a_crash(admin, runtime):
    """It used to pass the check and then break the insert (an IntegrityError)."""
    before = db_snapshot(runtime)
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(csv_file(csv_line(1, cards="29990000000001|2999 0000 0000 01")), "test")
    assert [str(e) for e in rejected.value.errors] == ["line 2: duplicate card …0001 (also on line 2)"]
    assert db_snapshot(runtime) == before


def test_a_re_import_finds_a_new_row_listing_an_unchanged_rows_card(admin, runtime):
    """Every listed card is staged, also those of unchanged rows: staging only the changed
    rows' cards missed this duplicate and the card insert then broke (an IntegrityError)."""
    admin.import_csv(export(3), "test")
    before = db_snapshot(runtime)
    with pytest.raises(ImportRejected) as rejected:
        admin.import_csv(
            csv_file(*(csv_line(n) for n in range(1, 4)), csv_line(9, cards="29990000000002")), "test"
        )
    assert [str(e) for e in rejected.value.errors] == ["line 5: duplicate card …0002 (also on line 3)"]
    assert db_snapshot(runtime) == before


def test_replace_list_refuses_a_patron_listed_twice(admin, runtime):
    before = db_snapshot(runtime)
    with pytest.raises(ImportRejected) as rejected:
        admin.replace_list([(1, member_row(1)), (2, member_row(1, cards=("29990000000077",)))], "test")
    assert [str(e) for e in rejected.value.errors] == ["line 2: duplicate patron_id P00001 (also on line 1)"]
    assert db_snapshot(runtime) == before


def test_problems_are_bounded_first_ones_named_and_the_rest_counted(admin, runtime):
    bad = [csv_line(n, pin="1") for n in range(1, 301)]  # lines 2-301
    good = [csv_line(n) for n in range(1001, 1101)]  # lines 302-401
    with pytest.raises(ImportRejected) as rejected:  # lines 402-501 repeat lines 302-401
        admin.import_csv(csv_file(*bad, *good, *good), "test")
    errors = rejected.value.errors
    assert len(errors) == MAX_PROBLEMS_NAMED
    assert [e.line for e in errors] == list(range(2, 2 + MAX_PROBLEMS_NAMED))
    assert rejected.value.unlisted == 500 - MAX_PROBLEMS_NAMED  # 300 + 100 ids + 100 cards
    assert str(rejected.value) == (
        f"member list rejected: 500 problem(s), the first {MAX_PROBLEMS_NAMED} listed; nothing was changed"
    )


def test_duplicates_alone_are_bounded_and_counted():
    rows = [csv_line(n) for n in range(1, 201)]
    with pytest.raises(ImportRejected) as rejected:
        parse_member_csv(csv_file(*rows, *rows), TODAY)  # 200 patrons and 200 cards twice
    assert len(rejected.value.errors) == MAX_PROBLEMS_NAMED
    assert rejected.value.total == 400
    assert rejected.value.errors[0].line == 202 and rejected.value.errors[1].line == 202


def test_old_mac_line_ends_are_accepted():
    data = "\r".join([HEADER, csv_line(1), csv_line(2)]).encode() + b"\r"
    assert [line for line, _ in parse_member_csv(data, TODAY)] == [2, 3]


def test_staging_tables_are_gone_after_an_import_and_after_a_refusal(admin, runtime):
    admin.import_csv(export(2), "test")
    with pytest.raises(ImportRejected):
        admin.import_csv(csv_file(csv_line(1, pin="x")), "test")
    conn = admin._members.connection
    temp_tables = conn.execute("SELECT name FROM temp.sqlite_master").fetchall()
    assert temp_tables == []
    with closing(sqlite3.connect(runtime.db.path)) as other:
        assert other.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 2


def test_cli_refuses_a_far_future_birth_date_in_one_line(tmp_path, monkeypatch, capsys):
    """Year 9982 or later used to end in a traceback (adult_on overflowed)."""
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_file(csv_line(1), csv_line(2, birth_date="9999-12-31")))
    assert main(["members", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nothing was changed" in err
    assert "line 3: birth_date '9999-12-31' is not between 1900-01-01 and " in err
