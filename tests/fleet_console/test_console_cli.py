"""`openplus-door fleet user-add` and `fleet serve` as an operator runs them: a user in the
console's own database, then the console serving its pages and subscribed to a real broker
until SIGTERM; a wrong config is one line, not a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from controller.services.fleet.commands import generate_keys
from fleet_console.serve import READY_LINE
from tests.mqtt_support import HANG_GUARD, Broker

pytestmark = pytest.mark.slow  # a service process
CLI = [sys.executable, "-m", "controller.cli"]


def console_config(tmp_path: Path, port: int) -> Path:
    private, _ = generate_keys(tmp_path / "keys")
    path = tmp_path / "console.toml"
    path.write_text(
        f'[console]\nkey_file = "{private}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {port}\ntls = false\n',
        encoding="utf-8",
    )
    return path


def test_user_add_then_serve_until_sigterm(tmp_path: Path, quiet_broker: Broker) -> None:
    config = console_config(tmp_path, quiet_broker.port)
    added = subprocess.run(
        [
            *CLI,
            "fleet",
            "user-add",
            "ada",
            "--role",
            "admin",
            "--console-config",
            str(config),
            "--password-stdin",
        ],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "data" / "fleet.db").exists()
    server = subprocess.Popen(
        [*CLI, "fleet", "serve", "--console-config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(READY_LINE), line
        url = line[len(READY_LINE) :].strip()
        with urllib.request.urlopen(url + "signin", timeout=HANG_GUARD) as page:
            assert page.status == 200 and b"Sign in to the fleet console" in page.read()
        server.send_signal(signal.SIGTERM)
        assert server.wait(HANG_GUARD) == 0
    finally:
        if server.poll() is None:
            server.kill()


def test_a_wrong_console_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "console.toml"
    config.write_text('[console]\nkey_file = "/nonexistent/fleet.key"\n', encoding="utf-8")
    result = subprocess.run(
        [*CLI, "fleet", "serve", "--console-config", str(config), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "openplus-door: /nonexistent/fleet.key: No such file or directory"
