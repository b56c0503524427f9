"""Fixtures for `relay-off`: a clean environment, config files, and the command run in a
subprocess the way systemd runs it (mock pins through GPIOZERO_PIN_FACTORY). The in-process
tests pass tests/conftest.py's `mock_factory` to relay-off explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.door.state_file import STATE_FILE

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = "import sys; from controller.cli.main import main; sys.exit(main())"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No config leaks in from the developer's shell, and the data directory is one that does
    not exist (so nothing is written) unless a test points it at `data_dir`."""
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path / "no-data-dir"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose state file says a crashed service left the relay unlocked."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / STATE_FILE).write_text(
        json.dumps({"relay_unlocked": True, "phase": "unlocked", "mode": "openplus"}), encoding="utf-8"
    )
    return folder


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str | bytes, str], Path]:
    """Write a config file under tmp_path and return its path."""

    def write(content: str | bytes, name: str = "door.toml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def read_state(data_dir: Path) -> Callable[[], dict]:
    return lambda: json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))


@pytest.fixture
def run_relay_off(tmp_path: Path, data_dir: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `openplus-door relay-off` in a new interpreter on mock pins.

    `launch` is "console" (what the `openplus-door` script does: import controller.cli.main, call
    main) or "module" (`python -m controller.cli.main`). Extra interpreter flags go in `python_args`.
    No bytecode is written, so the run leaves the checkout untouched.
    """

    def run(
        *cli_args: str,
        launch: str = "console",
        python_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        entry = ["-c", CONSOLE_SCRIPT] if launch == "console" else ["-m", "controller.cli.main"]
        environment = {
            **os.environ,
            "GPIOZERO_PIN_FACTORY": "mock",
            "OPENPLUS_DOOR_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            **(env or {}),
        }  # clean_env ran
        return subprocess.run(
            [sys.executable, *python_args, *entry, *cli_args],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
