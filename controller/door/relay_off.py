"""`openplus-door relay-off`: drive the lock pin to locked, quickly, whatever else the config says.

systemd runs this before the door service starts and after it stops for any reason (crash,
SIGKILL, OOM). It is the last line of fail-secure, so it must not depend on anything that can
fail for unrelated reasons: it reads only `[hardware.lock] pin` and `active_high` (and
`[storage] data_dir`, to mark the state file) with tomllib, never validates the rest of the
file, and imports nothing but gpiozero and the standard library; no pydantic, FastAPI or OpenCV,
which took seconds. A missing, unreadable or wrong value means the default (the same defaults
as config.py, from config_defaults.py) and a warning on stderr naming the problem: driving the
default lock pin locked is better than leaving the door as the crash left it.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from gpiozero.exc import GPIOZeroError
from gpiozero.pins import Factory

from controller.config.defaults import (
    DEFAULT_DATA_DIR,
    DEFAULT_LOCK_ACTIVE_HIGH,
    DEFAULT_LOCK_PIN,
    resolve_config_path,
    resolve_data_dir,
)
from controller.door.state_file import STATE_FILE, StateFile
from drivers.outputs import relay_off as drive_relay_off

Warn = Callable[[str], None]
_MISSING = object()


@dataclass(frozen=True)
class LockTarget:
    """What relay-off needs: the lock pin, the level that unlocks it, and the data directory."""

    pin: int | str
    active_high: bool
    data_dir: Path


def read_lock_target(path: Path | None, warn: Warn) -> LockTarget:
    """The lock pin, its polarity and the data directory from `path` (None: defaults, silently).

    Each value falls back to its default on its own, with a warning, so a bad `active_high`
    does not throw away a good `pin`.
    """
    raw = _read_toml(path, warn) if path is not None else {}
    where = str(path)
    lock = _table(raw, ("hardware", "lock"), where, warn)
    storage = _table(raw, ("storage",), where, warn)
    pin = _value(
        lock,
        "pin",
        _is_pin,
        DEFAULT_LOCK_PIN,
        f"{where}: hardware.lock.pin",
        "a GPIO number or pin name",
        warn,
    )
    active_high = _value(
        lock,
        "active_high",
        lambda v: isinstance(v, bool),
        DEFAULT_LOCK_ACTIVE_HIGH,
        f"{where}: hardware.lock.active_high",
        "true or false",
        warn,
    )
    configured_dir = _value(
        storage,
        "data_dir",
        lambda v: isinstance(v, str) and v != "",
        DEFAULT_DATA_DIR,
        f"{where}: storage.data_dir",
        "a folder path",
        warn,
    )
    return LockTarget(pin=pin, active_high=active_high, data_dir=resolve_data_dir(configured_dir))


def _read_toml(path: Path, warn: Warn) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        warn(f"{path}: cannot read the configuration file ({exc}); using the defaults")
    except tomllib.TOMLDecodeError as exc:
        warn(f"{path}: not valid TOML ({exc}); using the defaults")
    return {}


def _table(raw: dict[str, Any], keys: tuple[str, ...], where: str, warn: Warn) -> dict[str, Any]:
    """The nested table at `keys`, or {} (with a warning if something else stands there)."""
    table: Any = raw
    for depth, key in enumerate(keys):
        table = table.get(key, {})
        if not isinstance(table, dict):
            warn(
                f"{where}: {'.'.join(keys[: depth + 1])}: expected a table, got {table!r}; using the defaults"
            )
            return {}
    return table


def _value(
    table: dict[str, Any],
    key: str,
    valid: Callable[[Any], bool],
    default: Any,
    name: str,
    expected: str,
    warn: Warn,
) -> Any:
    value = table.get(key, _MISSING)
    if value is _MISSING:
        return default
    if not valid(value):
        warn(f"{name}: expected {expected}, got {value!r}; using {default!r}")
        return default
    return value


def _is_pin(value: Any) -> bool:
    if isinstance(value, bool):  # bool is an int subclass; `pin = true` is a mistake
        return False
    return (isinstance(value, int) and value >= 0) or (isinstance(value, str) and value.strip() != "")


def _mark_stopped(data_dir: Path, warn: Warn) -> None:
    """Record in the state file that the relay is locked; no data directory means no service ran."""
    if not data_dir.is_dir():
        return
    state = StateFile(data_dir / STATE_FILE)
    last = state.read() or {}
    try:
        state.replace(
            {**last, "relay_unlocked": False, "phase": "stopped", "at": datetime.now(UTC).isoformat()}
        )
    except OSError as exc:  # the pin is locked; the bookkeeping failing must not fail the unit
        warn(f"could not update {state.path} ({exc})")


def run(
    config: Path | None,
    *,
    pin_factory: Factory | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Drive the lock pin locked and record it; 0 when the pin was driven, 2 when it could not be.

    `config` is the --config flag (None: $OPENPLUS_DOOR_CONFIG, else the defaults), resolved
    exactly as config.py resolves it. `pin_factory` None means gpiozero's default (lgpio on a
    Pi, or $GPIOZERO_PIN_FACTORY).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr

    def warn(message: str) -> None:
        print(f"openplus-door: warning: {message}", file=err, flush=True)

    target = read_lock_target(resolve_config_path(config), warn)
    try:
        drive_relay_off(target.pin, active_high=target.active_high, pin_factory=pin_factory)
    except (GPIOZeroError, OSError, ValueError) as exc:
        print(f"openplus-door: could not drive lock pin {target.pin}: {exc}", file=err, flush=True)
        return 2
    _mark_stopped(target.data_dir, warn)
    print(f"lock pin {target.pin} driven to locked", file=out, flush=True)
    return 0
