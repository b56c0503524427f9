"""`openplus-door fleet keygen --out DIR`, and `[fleet] command_key_file`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.config.fleet import FleetSettings
from controller.config.settings import Settings
from controller.services.fleet.commands import load_private_key, load_public_key


def test_keygen_writes_a_private_key_for_the_console_and_a_public_one_for_branches(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "keys"
    assert main(["fleet", "keygen", "--out", str(out)]) == 0
    assert "command_key_file" in capsys.readouterr().out
    assert stat.S_IMODE((out / "fleet.key").stat().st_mode) == 0o600
    message = b"schedule"
    signature = load_private_key(out / "fleet.key").sign(message)
    load_public_key(out / "fleet.pub").verify(signature, message)  # raises when they do not pair

    assert main(["fleet", "keygen", "--out", str(out)]) == 2  # never overwrites the fleet's key
    assert "already exists" in capsys.readouterr().err


def test_the_command_key_file_is_optional() -> None:
    assert FleetSettings().command_key_file is None
    assert FleetSettings(command_key_file=Path("/etc/openplus-door/fleet.pub")).command_key_file
