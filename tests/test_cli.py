"""The console command as a user types it: exit codes, messages, and what ends up stored."""

from __future__ import annotations

import io
import sys
from contextlib import closing
from datetime import UTC
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.config.settings import load_settings
from controller.services.runtime import Runtime
from tests.helpers import csv_file, csv_line

EXAMPLE_CSV = Path(__file__).resolve().parent.parent / "config" / "members-example.csv"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    return tmp_path / "data"


def stored_members():
    runtime = Runtime.open(load_settings(None))
    with closing(runtime.connection()) as conn:
        return {m.patron_id: m for m in runtime.members(conn).search(limit=1000)}


def test_demo_members_then_decisions(capsys):
    assert main(["demo-members", "20"]) == 0
    assert "20 added" in capsys.readouterr().out
    assert main(["decide", "--card", "29990000000001", "--pin", "1234"]) == 0
    assert "GRANTED (granted)" in capsys.readouterr().out
    assert main(["decide", "--card", "29990000000002", "--pin", "1234"]) == 1
    assert "Geen toegang" in capsys.readouterr().out
    assert main(["decide", "--card", "29990000000001", "--pin", "1234", "--mode", "closed"]) == 1
    assert "outside_hours" in capsys.readouterr().out
    assert main(["events", "list", "--type", "access_refused"]) == 0
    listed = capsys.readouterr().out
    assert "blocked" in listed and "29990000000002" not in listed and "…0002" in listed


def test_decide_at_a_branch_time_shows_local_time(capsys):
    main(["demo-members", "6"])
    capsys.readouterr()
    main(["decide", "--card", "29990000000001", "--pin", "1234", "--at", "2026-03-29 03:30"])
    assert "2026-03-29 03:30:00 CEST" in capsys.readouterr().out


def test_import_example_and_a_rejected_file(tmp_path, capsys):
    assert main(["members", "import", str(EXAMPLE_CSV)]) == 0
    assert "3 added, 0 updated, 0 unchanged, 0 removed" in capsys.readouterr().out
    before = stored_members()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_file(csv_line(1), csv_line(2, valid_until="morgen")))
    assert main(["members", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "nothing was changed" in err and "line 3: valid_until 'morgen' is not a date" in err
    assert stored_members() == before


def test_add_set_pin_block_unblock_remove(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("2468\n"))
    assert (
        main(["members", "add", "X1", "--card", "1234-5678-90", "--name", "X.", "--adult", "--pin-stdin"])
        == 0
    )
    assert stored_members()["X1"].cards == ("1234567890",)
    assert main(["decide", "--card", "1234567890", "--pin", "2468"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("1357\n"))
    assert main(["members", "set-pin", "X1", "--pin-stdin"]) == 0
    assert main(["decide", "--card", "1234567890", "--pin", "1357"]) == 0
    assert main(["members", "block", "X1", "--until", "2099-01-01"]) == 0
    assert stored_members()["X1"].blocked_until.year == 2099
    assert main(["decide", "--card", "1234567890", "--pin", "1357"]) == 1
    assert main(["members", "unblock", "X1"]) == 0
    assert main(["decide", "--card", "1234567890", "--pin", "1357"]) == 0
    assert main(["members", "remove", "X1"]) == 0
    assert "X1" not in stored_members()
    capsys.readouterr()
    assert main(["events", "list", "--type", "admin_change"]) == 0
    audit = capsys.readouterr().out
    for what in ("member added", "PIN set", "member blocked", "member unblocked", "member removed"):
        assert what in audit
    assert "1357" not in audit and "2468" not in audit


def test_usage_errors_are_one_line_with_exit_code_2(monkeypatch, capsys, tmp_path):
    assert main(["members", "remove", "NOBODY"]) == 2
    assert "patron NOBODY is not on the list" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("12\n"))
    assert (
        main(["members", "add", "X2", "--card", "29990000000002", "--name", "Y", "--adult", "--pin-stdin"])
        == 2
    )
    assert "PIN must be 4 to 6 digits" in capsys.readouterr().err
    assert main(["members", "add", "X3", "--card", "12ab", "--name", "Y", "--adult", "--no-pin"]) == 2
    assert "unknown card format" in capsys.readouterr().err
    config = tmp_path / "bad.toml"
    config.write_text("[access]\nlockout_minutes = 'long'\n")
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "access.lockout_minutes" in err


def test_events_purge_uses_the_retention_setting(capsys, tmp_path, data_dir):
    from datetime import datetime, timedelta

    from controller.domain.events import Event, EventType

    runtime = Runtime.open(load_settings(None))
    now = datetime.now(UTC)
    with closing(runtime.connection()) as conn:
        log = runtime.events(conn)
        for age in (1, 89, 91, 400):
            log.record(Event(EventType.SERVICE, now - timedelta(days=age), "front"))
    assert main(["events", "purge"]) == 0
    assert "2 event(s)" in capsys.readouterr().out


def test_users_add_reads_the_password_and_refuses_bad_ones(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    assert main(["users", "add", "anna", "--role", "manager", "--role", "security", "--password-stdin"]) == 0
    assert "user anna added" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["users", "add", "bert", "--role", "admin", "--password-stdin"]) == 2
    assert "password" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    assert main(["users", "add", "anna", "--role", "admin", "--password-stdin"]) == 2
    runtime = Runtime.open(load_settings(None))
    with closing(runtime.connection()) as conn:
        stored = conn.execute("SELECT password_hash, roles FROM users").fetchall()
    assert len(stored) == 1 and stored[0][0].startswith("$argon2id$")
    assert "correct horse" not in stored[0][0]


@pytest.mark.parametrize("birth_date", ["9999-12-31", "1899-12-31"])
def test_members_add_refuses_a_birth_date_out_of_range_in_one_line(capsys, birth_date):
    """From year 9982 on, the 18th birthday overflowed into a traceback; the import's rule
    (birth_date_problem) now refuses any day after today or before 1900."""
    assert (
        main(
            [
                "members",
                "add",
                "X4",
                "--card",
                "29990000000004",
                "--name",
                "Y",
                "--birth-date",
                birth_date,
                "--no-pin",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"birth_date {birth_date} is " in err
    assert "X4" not in stored_members()


def test_members_add_names_a_card_listed_twice_or_taken_by_its_last_digits(capsys):
    """Both were an IntegrityError traceback or named no card; the full number is never shown."""
    assert (
        main(
            [
                "members",
                "add",
                "X5",
                "--card",
                "29990000000005",
                "--card",
                "2999-0000-0000-05",
                "--name",
                "Y",
                "--adult",
                "--no-pin",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "card …0005 is listed twice" in err
    assert "29990000000005" not in err
    assert (
        main(["members", "add", "X6", "--card", "29990000000006", "--name", "Y", "--adult", "--no-pin"]) == 0
    )
    assert (
        main(["members", "add", "X7", "--card", "29990000000006", "--name", "Z", "--adult", "--no-pin"]) == 2
    )
    err = capsys.readouterr().err
    assert "card …0006 already belongs to patron X6" in err and "29990000000006" not in err
    assert set(stored_members()) == {"X6"}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("evil\u202etxt.exe", "character 5 is U+202E"),
        ("A.\ufeffB.", "character 3 is U+FEFF"),
        ("A\x00B", "character 2 is U+0000"),
    ],
)
def test_members_add_refuses_a_name_with_control_or_invisible_characters(capsys, name, problem):
    assert (
        main(["members", "add", "X8", "--card", "29990000000008", "--name", name, "--adult", "--no-pin"]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--name: {problem}" in err
    assert "X8" not in stored_members()


def test_paths_into_the_checkout_point_at_the_checkout(tmp_path) -> None:
    """The simulator's example schedule and the web child's PYTHONPATH are found from the
    cli package's own file: after the move into controller/cli/ both pointed one level too
    low (the simulator started closed; the child put controller/ first on its path, where
    controller/http hid the standard library's http)."""
    from controller.cli.run import EXAMPLE_SCHEDULE
    from controller.cli.web import WebChild
    from controller.domain.schedule import load_schedule_file

    assert EXAMPLE_SCHEDULE == Path(__file__).resolve().parents[1] / "config" / "beilen-schedule.json"
    assert load_schedule_file(EXAMPLE_SCHEDULE).weekly.monday  # the Beilen week
    settings = load_settings(None)
    child = WebChild(settings, None, "127.0.0.1", 0, print)
    first = Path(child._env["PYTHONPATH"].split(":")[0])
    assert (first / "controller" / "__init__.py").is_file() and not (first / "http").exists()


def test_block_with_a_note_and_set_the_flags(monkeypatch, capsys):
    assert (
        main(
            [
                "members",
                "add",
                "X1",
                "--card",
                "1234567890",
                "--name",
                "X.",
                "--adult",
                "--no-pin",
                "--guardian-consent",
            ]
        )
        == 0
    )
    assert stored_members()["X1"].guardian_consent and not stored_members()["X1"].more_time
    assert main(["members", "block", "X1", "--until", "2099-01-01", "--note", "Damaged the kiosk"]) == 0
    assert stored_members()["X1"].block_note == "Damaged the kiosk"
    assert main(["members", "flags", "X1", "--more-time", "yes", "--guardian-consent", "no"]) == 0
    member = stored_members()["X1"]
    assert (member.guardian_consent, member.more_time) == (False, True)
    capsys.readouterr()
    assert main(["members", "list"]) == 0
    listed = capsys.readouterr().out
    assert "more time" in listed and "blocked until 2099-01-01: Damaged the kiosk" in listed
    assert main(["members", "block", "X1", "--note", "evil\u202etxt"]) == 2
    assert "--note: the note: character 5 is U+202E" in capsys.readouterr().err
    assert main(["members", "flags", "X1"]) == 2
    assert "give --guardian-consent yes|no" in capsys.readouterr().err
    assert main(["members", "flags", "NOBODY", "--more-time", "yes"]) == 2
    assert "patron NOBODY is not on the list" in capsys.readouterr().err
