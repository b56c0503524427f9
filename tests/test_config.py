"""Configuration: defaults with no file, and errors that name the file, the key and the problem."""
from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "openplus-door.toml"


def test_no_file_gives_working_defaults(monkeypatch):
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.access.max_wrong_pins == 5 and settings.access.lockout_minutes == 15
    assert settings.events.retention_days == 90


def test_example_file_is_valid():
    assert load_settings(EXAMPLE).branch.name


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "door.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[access]\nmax_wrong_pinz = 3\n", "access.max_wrong_pinz: unknown key"),
        ("[access]\nmax_wrong_pins = 'five'\n", "access.max_wrong_pins: Input should be a valid integer"),
        ("[access]\nmax_wrong_pins = 0\n", "access.max_wrong_pins: Input should be greater than or equal to 1"),
        ("[events]\nretention_days = -1\n", "events.retention_days"),
        ("[branch]\nname = ''\n", "branch.name"),
        ("[brnch]\nname = 'x'\n", "brnch: unknown key"),
        ("[access\n", "not valid TOML"),
        ("[logging]\nlevel = 'verbose'\n",
         "logging.level: Input should be 'debug', 'info', 'warning' or 'error' (got 'verbose')"),
    ],
)
def test_bad_file_names_file_key_and_problem(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value).startswith(str(path)) and expected in str(error.value)


def test_logging_level_defaults_to_info_and_comes_from_the_file(tmp_path):
    assert Settings().logging.level == "info" and load_settings(EXAMPLE).logging.level == "info"
    assert load_settings(write(tmp_path, "[logging]\nlevel = 'debug'\n")).logging.level == "debug"


def test_unreadable_file_is_named(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"{missing}: cannot read"):
        load_settings(missing)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(binary)


def test_data_dir_from_file_and_environment_override(tmp_path, monkeypatch):
    path = write(tmp_path, f"[storage]\ndata_dir = '{tmp_path / 'from-file'}'\n")
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    assert load_settings(path).data_dir == tmp_path / "from-file"
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path / "from-env"))
    assert load_settings(path).data_dir == tmp_path / "from-env"


def test_config_path_from_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "[branch]\nname = 'Beilen'\n")
    monkeypatch.setenv("OPENPLUS_DOOR_CONFIG", str(path))
    assert load_settings(None).branch.name == "Beilen"


def test_hardware_reader_errors_name_the_reader_entry(tmp_path):
    path = write(tmp_path, "[[hardware.readers]]\ntype = 'rdm6300'\nname = 'rfid'\n")
    with pytest.raises(ConfigError, match=r"hardware\.readers\.0\.rdm6300\.port: required value is missing"):
        load_settings(path)
    path = write(tmp_path, "[[hardware.readers]]\ntype = 'magic'\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"hardware\.readers\.0: .*'magic'"):
        load_settings(path)
    path = write(tmp_path, "[door]\nclosing_warning_minutes = [15, 0]\n")
    with pytest.raises(ConfigError, match=r"door\.closing_warning_minutes\.1"):
        load_settings(path)
