"""The data directory as the real command finds it: modes it makes whatever the umask."""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from controller.runtime import DB_FILE, Runtime

ROOT = Path(__file__).resolve().parent.parent
START_WAIT = 60.0


def env_for(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "OPENPLUS_DOOR_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
           "PYTHONUNBUFFERED": "1"}
    env.pop("OPENPLUS_DOOR_CONFIG", None)
    return env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- modes ---------------------------------------------------------------------------------------
def test_simulate_under_umask_022_keeps_data_and_footage_to_its_user(tmp_path):
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "simulate", "--no-api", "--exit-at-eof",
         "--members", "3"], env=env_for(data_dir), cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, umask=0o022)
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
        modes = {path.name: mode(path) for path in (
            data_dir, database, database.with_name(DB_FILE + "-wal"), data_dir / "pin.key",
            data_dir / "footage")}
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # --exit-at-eof: the console ends, the branch stops
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert modes == {"data": 0o700, DB_FILE: 0o600, DB_FILE + "-wal": 0o600, "pin.key": 0o600,
                     "footage": 0o700}


def test_a_cli_command_under_umask_022_makes_the_data_dir_0700(tmp_path):
    data_dir = tmp_path / "deeper" / "data"
    done = subprocess.run([sys.executable, "-m", "controller.cli", "members", "list"],
                          env=env_for(data_dir), cwd=ROOT, capture_output=True, text=True,
                          umask=0o022, timeout=120)
    assert done.returncode == 0, done.stderr
    assert mode(data_dir) == 0o700 and mode(data_dir / DB_FILE) == 0o600


def test_an_existing_data_dir_others_can_read_is_warned_about_not_changed(settings, caplog):
    settings.data_dir.mkdir(mode=0o755)
    settings.data_dir.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="controller.runtime"):
        Runtime.open(settings)
    warned = [r.getMessage() for r in caplog.records if r.name == "controller.runtime"]
    assert any(f"chmod 700 {settings.data_dir}" in message for message in warned)
    assert mode(settings.data_dir) == 0o755
