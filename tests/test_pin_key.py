"""The PIN key belongs to its database: a missing or different key is refused at start (not
silently replaced, which would make every PIN wrong), and `pins reset-all` is the way back."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.domain.events import EventType
from controller.domain.pins import PinHasher, PinKeyError
from controller.services.runtime import DB_FILE, PIN_KEY_FILE, Runtime
from controller.store.events import EventFilter
from tests.conftest import DEMO_CARD
from tests.helpers import add_member

ROOT = Path(__file__).resolve().parent.parent


def add_members_with_pins(runtime: Runtime, count: int = 2) -> None:
    for number in range(1, count + 1):
        add_member(runtime, number)


def stored_fingerprint(runtime: Runtime) -> bytes | None:
    with closing(runtime.connection()) as conn:
        row = conn.execute("SELECT fingerprint FROM pin_key WHERE id = 1").fetchone()
    return bytes(row[0]) if row else None


@pytest.fixture
def key_path(settings) -> Path:
    return settings.data_dir / PIN_KEY_FILE


def test_a_fresh_install_makes_the_key_and_stores_its_fingerprint_not_the_key(runtime, clock, key_path):
    key = key_path.read_bytes()
    assert stored_fingerprint(runtime) == runtime.hasher.fingerprint()
    assert key not in (runtime.settings.data_dir / DB_FILE).read_bytes()
    add_members_with_pins(runtime)
    reopened = Runtime.open(runtime.settings, clock=clock)
    with closing(reopened.connection()) as conn:
        member = reopened.members(conn).get("P00001")
    assert reopened.hasher.verify("1234", member.pin_salt, member.pin_hash)
    assert key_path.read_bytes() == key


def test_a_missing_key_with_pins_stored_is_refused_and_nothing_is_made(runtime, clock, key_path):
    add_members_with_pins(runtime)
    key_path.unlink()
    with pytest.raises(PinKeyError) as refused:
        Runtime.open(runtime.settings, clock=clock)
    message = str(refused.value)
    assert "\n" not in message
    assert f"copy the backup's pin.key to {key_path}" in message
    assert "openplus-door pins reset-all --yes" in message
    assert not key_path.exists()


def test_a_different_key_with_pins_stored_is_refused_and_left_alone(runtime, clock, key_path):
    add_members_with_pins(runtime)
    other_key = os.urandom(32)
    key_path.write_bytes(other_key)
    with pytest.raises(PinKeyError, match="is not the key this database's PINs were hashed with"):
        Runtime.open(runtime.settings, clock=clock)
    assert key_path.read_bytes() == other_key
    assert stored_fingerprint(runtime) == runtime.hasher.fingerprint()


def test_without_pins_a_missing_key_is_made_anew_and_bound(runtime, clock, key_path):
    old_fingerprint = stored_fingerprint(runtime)
    key_path.unlink()
    reopened = Runtime.open(runtime.settings, clock=clock)
    assert key_path.exists()
    assert stored_fingerprint(reopened) == reopened.hasher.fingerprint() != old_fingerprint


def test_a_database_from_before_fingerprints_binds_the_key_it_finds(runtime, clock, key_path):
    add_members_with_pins(runtime)
    with closing(runtime.connection()) as conn:
        conn.execute("DELETE FROM pin_key")
    reopened = Runtime.open(runtime.settings, clock=clock)
    assert stored_fingerprint(reopened) == runtime.hasher.fingerprint()


def test_the_fingerprint_depends_on_the_key_alone():
    assert PinHasher(b"a" * 32).fingerprint() == PinHasher(b"a" * 32).fingerprint()
    assert PinHasher(b"a" * 32).fingerprint() != PinHasher(b"b" * 32).fingerprint()


@pytest.fixture
def cli_env(settings, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(settings.data_dir))
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_the_cli_refuses_in_one_line_and_reset_all_recovers(runtime, clock, key_path, cli_env, capsys):
    add_members_with_pins(runtime)
    key_path.unlink()
    assert main(["decide", "--card", DEMO_CARD, "--pin", "1234"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pins reset-all --yes" in err
    assert not key_path.exists()

    assert main(["pins", "reset-all"]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert main(["pins", "reset-all", "--yes"]) == 0
    assert "2 PIN(s) cleared" in capsys.readouterr().out

    reopened = Runtime.open(runtime.settings, clock=clock)
    with closing(reopened.connection()) as conn:
        assert not any(m.has_pin for m in reopened.members(conn).search(limit=10))
        audit = reopened.events(conn).query(EventFilter(types=(EventType.ADMIN_CHANGE,)))
    assert audit[0].reason == "all PINs reset" and audit[0].actor.startswith("cli:")
    assert stored_fingerprint(reopened) == PinHasher.from_key_file(key_path).fingerprint()
    assert (
        subprocess.run(
            [sys.executable, "-m", "controller.cli.main", "members", "set-pin", "P00001", "--pin-stdin"],
            input="4321\n",
            env=cli_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        ).returncode
        == 0
    )
    assert main(["decide", "--card", DEMO_CARD, "--pin", "4321"]) == 0


@pytest.mark.slow  # one service process per command
@pytest.mark.parametrize(
    "command", [["serve"], ["simulate", "--no-api", "--exit-at-eof"], ["web", "--port", "0"]]
)
def test_serve_simulate_and_web_refuse_to_start_without_the_key(runtime, clock, key_path, cli_env, command):
    add_members_with_pins(runtime)
    key_path.unlink()
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", *command],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("openplus-door: ") and done.stderr.count("\n") == 1
    assert f"copy the backup's pin.key to {key_path}" in done.stderr
    assert not key_path.exists()
