"""`relay-off`: the lock pin goes locked whatever else is wrong, and the command stays light.

systemd runs it before the service starts and after it stops (crash, SIGKILL), so an unrelated
config typo, an unreadable file or a slow import must never keep the pin where a crash left it.
"""

from __future__ import annotations

import argparse
import importlib
import io
from pathlib import Path

import pytest
from gpiozero import OutputDevice

from controller.cli.main import LazyHandler, build_parser
from controller.config.defaults import DEFAULT_LOCK_PIN, resolve_config_path
from controller.config.settings import load_settings
from controller.door.relay_off import read_lock_target, run
from controller.door.state_file import STATE_FILE

HEAVY = {
    "fastapi",
    "starlette",
    "uvicorn",
    "cv2",
    "numpy",
    "pydantic",
    "pydantic_core",
    "apscheduler",
    "argon2",
    "jinja2",
    "controller.config.settings",
    "controller.door.machine",
    "controller.cli.run",
    "controller.cli.commands",
}


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from `python -X importtime` output ('import time: self | cumulative | name')."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return names


def heavy_among(names: set[str]) -> set[str]:
    return {name for name in names if name in HEAVY or name.split(".")[0] in HEAVY}


def level(factory, pin: int) -> bool:
    return bool(factory.pin(pin).state)


def relay_off(config: Path | None, factory) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(config, pin_factory=factory, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# --- what it imports ------------------------------------------------------------------------


@pytest.mark.parametrize("launch", ["console", "module"])
def test_relay_off_imports_nothing_heavy(run_relay_off, read_state, launch):
    done = run_relay_off("relay-off", launch=launch, python_args=("-X", "importtime"))
    assert done.returncode == 0, done.stderr
    names = imported_modules(done.stderr)
    assert "controller.door.relay_off" in names and "gpiozero" in names  # the parse works
    assert heavy_among(names) == set()
    assert read_state()["relay_unlocked"] is False


def test_another_command_still_loads_the_full_config(run_relay_off, write_config):
    """The lazy imports did not make the other commands skip validation."""
    bad = write_config("[door]\nheld_open_secondz = 30\n")
    done = run_relay_off("--config", str(bad), "check-config")
    assert done.returncode == 2
    assert "door.held_open_secondz: unknown key" in done.stderr


def test_every_command_handler_names_a_real_function():
    handlers = []

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:  # argparse keeps subcommands only here
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
        handler = parser.get_default("run")
        if isinstance(handler, LazyHandler):
            handlers.append(handler)

    walk(build_parser())
    assert len(handlers) > 10
    for handler in handlers:
        assert callable(getattr(importlib.import_module(handler.module), handler.name)), handler


# --- the pin and the state file, as systemd runs it ------------------------------------------


def test_unrelated_bad_keys_still_drive_the_pin_and_mark_the_state(run_relay_off, write_config, read_state):
    config = write_config(
        "[door]\nheld_open_seconds = 'thirty'\n[brnch]\nname = 'typo'\n"
        "[hardware]\nrex_pin = [1, 2]\n[hardware.lock]\npin = 4\nactive_high = false\n"
    )
    done = run_relay_off("--config", str(config), "relay-off")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lock pin 4 driven to locked"
    assert done.stderr == ""  # keys relay-off does not read are not its business
    state = read_state()
    assert state["relay_unlocked"] is False and state["phase"] == "stopped"
    assert state["mode"] == "openplus"  # the rest of the last state is kept


def test_config_from_the_environment_is_used(run_relay_off, write_config, read_state):
    config = write_config("[hardware.lock]\npin = 6\n")
    done = run_relay_off("relay-off", env={"OPENPLUS_DOOR_CONFIG": str(config)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lock pin 6 driven to locked"
    assert read_state()["relay_unlocked"] is False


@pytest.mark.parametrize("active_high", [True, False])
def test_the_configured_pin_goes_to_its_locked_level(mock_factory, write_config, active_high):
    config = write_config(
        f"[hardware.lock]\npin = 4\nactive_high = {str(active_high).lower()}\n[unknown]\nx = 1\n"
    )
    # A crashed service: the pin was released at its unlocking level.
    OutputDevice(4, active_high=active_high, initial_value=True, pin_factory=mock_factory).close()
    code, out, err = relay_off(config, mock_factory)
    assert (code, err) == (0, "")
    assert level(mock_factory, 4) is (not active_high)
    assert level(mock_factory, DEFAULT_LOCK_PIN) is False  # nothing else touched


# --- bad or unreadable files: defaults and a warning -----------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read the configuration file"),
        (b"\xff\xfe[hardware.lock]\n", "cannot read the configuration file"),
        ("[hardware.lock\npin = 4\n", "not valid TOML"),
    ],
)
def test_unreadable_file_warns_and_drives_the_default_pin(
    mock_factory, write_config, tmp_path, content, problem
):
    config = tmp_path / "missing.toml" if content is None else write_config(content)
    code, out, err = relay_off(config, mock_factory)
    assert code == 0
    assert out.strip() == f"lock pin {DEFAULT_LOCK_PIN} driven to locked"
    assert err.startswith("openplus-door: warning: ")
    assert str(config) in err and problem in err and "using the defaults" in err
    assert level(mock_factory, DEFAULT_LOCK_PIN) is False


@pytest.mark.parametrize(
    ("text", "key", "pin", "active_high"),
    [
        ("[hardware.lock]\npin = 4.5\nactive_high = false\n", "hardware.lock.pin", 17, False),
        ("[hardware.lock]\npin = true\n", "hardware.lock.pin", 17, True),
        ("[hardware.lock]\npin = -1\n", "hardware.lock.pin", 17, True),
        ("[hardware.lock]\npin = ''\n", "hardware.lock.pin", 17, True),
        ("[hardware.lock]\npin = 4\nactive_high = 'no'\n", "hardware.lock.active_high", 4, True),
        ("[hardware]\nlock = 4\n", "hardware.lock: expected a table", 17, True),
        ("hardware = 'x'\n", "hardware: expected a table", 17, True),
    ],
)
def test_bad_lock_values_fall_back_one_by_one_with_a_warning(
    tmp_path, write_config, text, key, pin, active_high
):
    warnings: list[str] = []
    target = read_lock_target(write_config(text), warnings.append)
    assert (target.pin, target.active_high) == (pin, active_high)
    assert len(warnings) == 1 and key in warnings[0] and str(tmp_path) in warnings[0]


def test_no_config_file_means_defaults_without_a_warning(mock_factory):
    code, out, err = relay_off(None, mock_factory)
    assert (code, err) == (0, "")
    assert level(mock_factory, DEFAULT_LOCK_PIN) is False


def test_pin_names_are_passed_to_gpiozero(mock_factory, write_config):
    code, out, err = relay_off(write_config("[hardware.lock]\npin = 'GPIO4'\n"), mock_factory)
    assert (code, err) == (0, "")
    assert level(mock_factory, 4) is False


def test_a_pin_that_cannot_be_driven_fails_and_leaves_the_state_alone(
    mock_factory, write_config, data_dir, read_state, monkeypatch
):
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(data_dir))
    code, out, err = relay_off(write_config("[hardware.lock]\npin = 'NOPE'\n"), mock_factory)
    assert code == 2 and out == ""
    assert "could not drive lock pin NOPE" in err
    assert read_state()["relay_unlocked"] is True  # nothing claims a lock that did not happen


def test_a_state_file_that_cannot_be_written_is_a_warning_not_a_failure(mock_factory, data_dir, monkeypatch):
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(data_dir))
    (data_dir / "door-state.tmp").mkdir()  # the atomic replace's temporary file cannot be made
    code, out, err = relay_off(None, mock_factory)
    assert code == 0 and "driven to locked" in out
    assert "warning: could not update" in err and STATE_FILE in err


# --- the same answers as config.py -----------------------------------------------------------


def test_file_choice_and_values_match_config_py(write_config, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR")  # so the file's data_dir counts
    from_env = write_config(
        f"[hardware.lock]\npin = 4\nactive_high = false\n[storage]\ndata_dir = '{tmp_path / 'env-data'}'\n",
        "env.toml",
    )
    from_flag = write_config("[hardware.lock]\npin = 5\n", "flag.toml")
    monkeypatch.setenv("OPENPLUS_DOOR_CONFIG", str(from_env))
    for flag in (None, from_flag):
        settings = load_settings(flag)
        target = read_lock_target(resolve_config_path(flag), pytest.fail)
        assert (target.pin, target.active_high, target.data_dir) == (
            settings.hardware.lock.pin,
            settings.hardware.lock.active_high,
            settings.data_dir,
        )
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG")
    settings = load_settings(None)
    target = read_lock_target(resolve_config_path(None), pytest.fail)
    assert (target.pin, target.active_high, target.data_dir) == (
        settings.hardware.lock.pin,
        settings.hardware.lock.active_high,
        settings.data_dir,
    )
