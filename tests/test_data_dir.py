"""The data directory as the real command finds it: modes it makes whatever the umask, and one
clear line (never a traceback) when it cannot be used.

Run as root, file modes do not bind (CAP_DAC_OVERRIDE); the read-only cases drop that
capability from the child's bounding set, so root meets the modes like any other user.
"""

from __future__ import annotations

import ctypes
import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controller.services.runtime import DB_FILE, Runtime

ROOT = Path(__file__).resolve().parent.parent
START_WAIT = 60.0
PR_CAPBSET_DROP = 24
FILE_OVERRIDES = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


def env_for(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "OPENPLUS_DOOR_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("OPENPLUS_DOOR_CONFIG", None)
    return env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _as_modes_bind() -> None:
    """In the child, before exec: root gives up overriding file modes (a no-op for others)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in FILE_OVERRIDES:
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_cli(data_dir: Path, *args: str, modes_bind: bool = False) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "controller.cli.main", *args],
            env=env_for(data_dir),
            cwd=ROOT,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            preexec_fn=_as_modes_bind if modes_bind else None,
        )
    except subprocess.TimeoutExpired:
        raise
    except subprocess.SubprocessError as exc:  # what a failing preexec_fn raises
        pytest.skip(
            f"root here cannot give up its file-mode override ({exc}), so no directory "
            "or file is read-only to it"
        )


def assert_one_line_refusal(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    refusal = [line for line in done.stderr.splitlines() if line.startswith("openplus-door: ")]
    assert len(refusal) == 1, done.stderr
    for text in expected:
        assert text in refusal[0]


COMMANDS = {
    "serve": ["serve"],
    "simulate": ["simulate", "--no-api", "--exit-at-eof"],
    "web": ["web", "--port", "0"],
    "members list": ["members", "list"],
    "pins reset-all": ["pins", "reset-all", "--yes"],
}


# --- modes ---------------------------------------------------------------------------------------
@pytest.mark.slow  # a whole `openplus-door simulate` with its web process
def test_simulate_under_umask_022_keeps_data_and_footage_to_its_user(tmp_path):
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli.main",
            "simulate",
            "--no-api",
            "--exit-at-eof",
            "--members",
            "3",
        ],
        env=env_for(data_dir),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        umask=0o022,
    )
    banner = threading.Event()
    output: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "Simulated branch" in line:
                banner.set()
        banner.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert banner.wait(START_WAIT) and proc.poll() is None, "".join(output)
        database = data_dir / DB_FILE
        modes = {
            path.name: mode(path)
            for path in (
                data_dir,
                database,
                database.with_name(DB_FILE + "-wal"),
                data_dir / "pin.key",
                data_dir / "footage",
            )
        }
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # --exit-at-eof: the console ends, the branch stops
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert modes == {
        "data": 0o700,
        DB_FILE: 0o600,
        DB_FILE + "-wal": 0o600,
        "pin.key": 0o600,
        "footage": 0o700,
    }


def test_a_cli_command_under_umask_022_makes_the_data_dir_0700(tmp_path):
    data_dir = tmp_path / "deeper" / "data"
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "members", "list"],
        env=env_for(data_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        umask=0o022,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert mode(data_dir) == 0o700 and mode(data_dir / DB_FILE) == 0o600


def test_an_existing_data_dir_others_can_read_is_warned_about_not_changed(settings, caplog):
    settings.data_dir.mkdir(mode=0o755)
    settings.data_dir.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="controller.services.runtime"):
        Runtime.open(settings)
    warned = [r.getMessage() for r in caplog.records if r.name == "controller.services.runtime"]
    assert any(f"chmod 700 {settings.data_dir}" in message for message in warned)
    assert mode(settings.data_dir) == 0o755


# --- one line, not a traceback -------------------------------------------------------------------
@pytest.mark.slow  # one CLI process per command, each importing the service cold
@pytest.mark.parametrize("command", COMMANDS)
def test_a_data_dir_that_is_a_file_is_one_line(tmp_path, command):
    data_dir = tmp_path / "data"
    data_dir.write_text("not a directory")
    done = run_cli(data_dir, *COMMANDS[command])
    assert_one_line_refusal(done, str(data_dir), "is a file, not a directory")


def test_a_data_dir_under_a_regular_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    data_dir = tmp_path / "file" / "data"
    done = run_cli(data_dir, "members", "list")
    assert_one_line_refusal(done, str(data_dir), "cannot create it")


def test_a_database_path_that_is_a_directory_is_one_line(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / DB_FILE).mkdir(parents=True)
    done = run_cli(data_dir, "serve")
    assert_one_line_refusal(done, str(data_dir / DB_FILE), "is a directory, not the database")


@pytest.mark.parametrize("command", ["serve", "members list"])
def test_a_read_only_data_dir_is_one_line(tmp_path, command):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o500)
    try:
        done = run_cli(data_dir, *COMMANDS[command], modes_bind=True)
    finally:
        data_dir.chmod(0o700)
    assert_one_line_refusal(done, str(data_dir), "needs read and write access")


@pytest.mark.slow  # one CLI process per command, each importing the service cold
@pytest.mark.parametrize("command", ["simulate", "web", "members list"])
def test_a_read_only_database_is_one_line(settings, command):
    Runtime.open(settings)  # the database, its key and fingerprint, as a first start leaves them
    database = settings.data_dir / DB_FILE
    database.chmod(0o400)
    done = run_cli(settings.data_dir, *COMMANDS[command], modes_bind=True)
    assert_one_line_refusal(done, str(database), "cannot be written", "write access to it")
