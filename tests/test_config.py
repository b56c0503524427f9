"""Configuration: defaults with no file, and errors that name the file, the key and the problem."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from controller.config.settings import (
    AccessSettings,
    ConfigError,
    DoorSettings,
    Settings,
    load_settings,
    parse_settings,
)

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
        (
            "[access]\nmax_wrong_pins = 0\n",
            "access.max_wrong_pins: Input should be greater than or equal to 1",
        ),
        ("[events]\nretention_days = -1\n", "events.retention_days"),
        ("[branch]\nname = ''\n", "branch.name"),
        ("[brnch]\nname = 'x'\n", "brnch: unknown key"),
        ("[access\n", "not valid TOML"),
        (
            "[logging]\nlevel = 'verbose'\n",
            "logging.level: Input should be 'debug', 'info', 'warning' or 'error' (got 'verbose')",
        ),
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


FINITE = "Input should be a finite number"
AT_MOST = "Input should be less than or equal to"


@pytest.mark.parametrize(
    ("section", "key", "value", "problem"),
    [
        ("door", "held_open_seconds", "inf", FINITE),
        ("door", "held_open_seconds", "nan", FINITE),
        ("door", "held_open_seconds", "1e15", f"{AT_MOST} 3600"),
        ("door", "held_open_seconds", "3601", f"{AT_MOST} 3600"),
        ("door", "pin_timeout_seconds", "inf", FINITE),
        ("door", "unlock_seconds", "nan", FINITE),
        ("door", "rex_grace_seconds", "inf", FINITE),
        ("door", "rex_grace_seconds", "301", f"{AT_MOST} 300"),
        ("door", "message_seconds", "inf", FINITE),
        ("door", "message_seconds", "61", f"{AT_MOST} 60"),
        ("door", "key_beep_seconds", "inf", FINITE),
        ("door", "key_beep_seconds", "2", f"{AT_MOST} 1"),
        ("door", "alarm_beep_seconds", "nan", FINITE),
        ("door", "alarm_beep_seconds", "11", f"{AT_MOST} 10"),
        ("access", "lockout_minutes", "1e15", f"{AT_MOST} 1440"),
        ("access", "reader_failure_threshold", "1001", f"{AT_MOST} 1000"),
        ("access", "reader_failure_window_seconds", "1e14", f"{AT_MOST} 86400"),
        ("access", "reader_failure_window_seconds", "inf", FINITE),
        ("access", "reader_slowdown_seconds", "inf", FINITE),
        ("access", "reader_slowdown_seconds", "3601", f"{AT_MOST} 3600"),
        ("access", "reader_slowdown_max_seconds", "1e308", f"{AT_MOST} 3600"),
        ("access", "reader_slowdown_max_seconds", "-inf", FINITE),
        ("access", "reader_slowdown_max_seconds", "nan", FINITE),
    ],
)
def test_absurd_numbers_are_refused_naming_key_and_problem(tmp_path, section, key, value, problem):
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value).startswith(f"{path}: {section}.{key}: {problem}")


def test_slowdown_may_not_start_above_its_maximum(tmp_path):
    path = write(tmp_path, "[access]\nreader_slowdown_seconds = 200.0\nreader_slowdown_max_seconds = 100.0\n")
    with pytest.raises(
        ConfigError,
        match=r"access\.reader_slowdown_max_seconds: must be at "
        r"least reader_slowdown_seconds \(200\.0\) \(got 100\.0\)",
    ):
        load_settings(path)
    equal = write(
        tmp_path, "[access]\nreader_slowdown_seconds = 100.0\nreader_slowdown_max_seconds = 100.0\n"
    )
    assert load_settings(equal).access.reader_slowdown_max_seconds == 100.0


def test_the_upper_limits_themselves_are_allowed(tmp_path):
    path = write(
        tmp_path,
        "[door]\nheld_open_seconds = 3600\nrex_grace_seconds = 300\n"
        "message_seconds = 60\nkey_beep_seconds = 1\nalarm_beep_seconds = 10\n"
        "[access]\nreader_failure_threshold = 1000\n"
        "reader_failure_window_seconds = 86400\n"
        "reader_slowdown_seconds = 3600\nreader_slowdown_max_seconds = 3600\n",
    )
    settings = load_settings(path)
    assert settings.door.held_open_seconds == 3600
    assert settings.access.reader_failure_window_seconds == 86400


def test_check_config_refuses_an_infinite_value(tmp_path, monkeypatch, capsys):
    from controller.cli.main import main

    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path / "data"))
    path = write(tmp_path, "[door]\nheld_open_seconds = inf\n")
    assert main(["--config", str(path), "check-config"]) == 2
    assert capsys.readouterr().err == (f"openplus-door: {path}: door.held_open_seconds: {FINITE} (got inf)\n")


@pytest.mark.parametrize("section", [AccessSettings, DoorSettings])
def test_every_number_on_the_door_has_a_finite_upper_bound(section):
    """A guard for settings added later: the door turns these into deadlines and timedeltas."""
    for name, field in section.model_fields.items():
        if field.annotation in (int, float):
            assert any(
                getattr(rule, "le", None) is not None or getattr(rule, "lt", None) is not None
                for rule in field.metadata
            ), f"{section.__name__}.{name}"
        if field.annotation is float:
            assert any(getattr(rule, "allow_inf_nan", None) is False for rule in field.metadata), (
                f"{section.__name__}.{name}"
            )


_READER = "[[hardware.readers]]\nname = 'r'\n"
# Settings that had no upper bound before issue 11: (TOML with {v} for the value, the key named).
UNBOUNDED_BEFORE = [
    ("[camera]\nmax_gb = {v}\n", "camera.max_gb"),
    ("[camera]\nmin_free_mb = {v}\n", "camera.min_free_mb"),
    ("[camera]\nretry_max_seconds = {v}\n", "camera.retry_max_seconds"),
    ("[camera]\nnotify_queue_size = {v}\n", "camera.notify_queue_size"),
    ("[camera]\nsource = {v}\n", "camera.source"),
    ("[hardware]\ndoor_contact_pin = {v}\n", "hardware.door_contact_pin"),
    ("[hardware]\nrex_pin = {v}\n", "hardware.rex_pin"),
    ("[hardware.lock]\npin = {v}\n", "hardware.lock.pin"),
    ("[hardware.lights]\npin = {v}\n", "hardware.lights.pin"),
    ("[hardware.alarm]\npin = {v}\n", "hardware.alarm.pin"),
    ("[hardware.indicator]\ngreen_pin = {v}\n", "hardware.indicator.green_pin"),
    ("[hardware.indicator]\nred_pin = {v}\n", "hardware.indicator.red_pin"),
    ("[hardware.indicator]\nbuzzer_pin = {v}\n", "hardware.indicator.buzzer_pin"),
    (
        _READER + "type = 'rdm6300'\nport = '/dev/serial0'\nbaudrate = {v}\n",
        "hardware.readers.0.rdm6300.baudrate",
    ),
    (
        _READER + "type = 'barcode'\nport = '/dev/ttyACM0'\nbaudrate = {v}\n",
        "hardware.readers.0.barcode.baudrate",
    ),
    (
        _READER + "type = 'osdp'\nport = '/dev/ttyUSB0'\nscbk_file = 'k'\nbaudrate = {v}\n",
        "hardware.readers.0.osdp.baudrate",
    ),
    (_READER + "type = 'wiegand'\nd0_pin = {v}\nd1_pin = 24\n", "hardware.readers.0.wiegand.d0_pin"),
    (_READER + "type = 'wiegand'\nd0_pin = 23\nd1_pin = {v}\n", "hardware.readers.0.wiegand.d1_pin"),
    (
        _READER + "type = 'matrix_keypad'\nrow_pins = [1, 2, 3, {v}]\ncol_pins = [4, 5, 6]\n",
        "hardware.readers.0.matrix_keypad.row_pins.3",
    ),
    (
        _READER + "type = 'matrix_keypad'\nrow_pins = [1, 2, 3, 7]\ncol_pins = [4, {v}, 6]\n",
        "hardware.readers.0.matrix_keypad.col_pins.1",
    ),
]


@pytest.mark.parametrize("value", ["inf", "1e308", "1e15"])
@pytest.mark.parametrize(("toml", "key"), UNBOUNDED_BEFORE)
def test_check_config_refuses_huge_numbers_in_every_setting(tmp_path, monkeypatch, capsys, toml, key, value):
    from controller.cli.main import main

    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path / "data"))
    path = write(tmp_path, toml.format(v=value))
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"openplus-door: {path}: {key}: ") and err.count("\n") == 1, err


def _models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """`model` and every settings model inside it (sections, readers, pins), once each."""
    seen: list[type[BaseModel]] = []
    todo = [model]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        for field in current.model_fields.values():
            todo.extend(
                inner
                for inner in _types_in(field.annotation)
                if isinstance(inner, type) and issubclass(inner, BaseModel)
            )
    return iter(seen)


def _types_in(annotation: object) -> list[object]:
    inner = [annotation]
    for argument in get_args(annotation):
        inner.extend(_types_in(argument))
    return inner


def test_every_number_in_every_setting_has_a_finite_upper_bound():
    """A guard for settings added later: `check-config` must refuse what would fail later."""
    for model in _models(Settings):
        for name, field in model.model_fields.items():
            where = f"{model.__name__}.{name}"
            if field.annotation in (int, float):
                assert any(
                    getattr(rule, "le", None) is not None or getattr(rule, "lt", None) is not None
                    for rule in field.metadata
                ), where
            if field.annotation is float:
                assert any(getattr(rule, "allow_inf_nan", None) is False for rule in field.metadata), where


# --- [lms] and [eligibility] (issue 13) ---------------------------------------------------------


def test_the_lms_is_off_by_default_and_its_rules_default_to_adults():
    from controller.domain.eligibility import EligibilityRules

    settings = parse_settings({}, "t.toml")
    assert settings.lms.enabled is False and settings.lms.offline_policy == "cached"
    assert settings.eligibility.rules() == EligibilityRules()


def test_an_lms_section_is_read_with_its_rules():
    settings = parse_settings(
        {
            "lms": {
                "enabled": True,
                "host": "lms.example",
                "port": 6001,
                "check": "patron_information",
                "charset": "utf-8",
                "offline_policy": "deny",
                "login_user": "door",
                "login_password": "secret",
            },
            "eligibility": {
                "min_age": 16,
                "open_plus_patron_classes": ["OP"],
                "barring_status_positions": [1, 2],
            },
        },
        "t.toml",
    )
    assert settings.lms.check == "patron_information" and settings.lms.offline_policy == "deny"
    rules = settings.eligibility.rules()
    assert rules.min_age == 16 and rules.open_plus_classes == {"OP"}
    assert rules.barring_positions == {1, 2}
    assert "secret" not in repr(settings.lms)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"lms": {"offline_policy": "open"}}, "lms.offline_policy"),
        ({"lms": {"reply_timeout_seconds": 0}}, "lms.reply_timeout_seconds"),
        ({"lms": {"reply_timeout_seconds": float("inf")}}, "lms.reply_timeout_seconds"),
        ({"lms": {"port": 70000}}, "lms.port"),
        ({"lms": {"ca_file": "/etc/ca.pem"}}, "ca_file is set but tls is false"),
        ({"lms": {"login_user": "door"}}, "login_user and login_password go together"),
        ({"lms": {"charset": "ebcdic"}}, "lms.charset"),
        ({"eligibility": {"min_age": 12}}, "eligibility.min_age"),
        ({"eligibility": {"min_age": 22}}, "eligibility.min_age"),
        ({"eligibility": {"barring_status_positions": [14]}}, "eligibility.barring_status_positions"),
        ({"eligibility": {"age": 18}}, "eligibility.age: unknown key"),
    ],
)
def test_a_bad_lms_or_eligibility_setting_is_named(raw, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        parse_settings(raw, "t.toml")
