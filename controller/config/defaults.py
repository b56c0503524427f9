"""Defaults and file locations shared by config.py and the light `relay-off` command.

`relay-off` runs on every start and stop of the door service (systemd ExecStartPre and
ExecStopPost), so it must not import pydantic or anything heavy. It still has to agree with
config.py on where the file is, where the data lives and which pin is the lock; keeping those
answers here, in a module that imports only the standard library, makes them agree by
construction instead of by copy.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "OPENPLUS_DOOR_DATA_DIR"
CONFIG_ENV = "OPENPLUS_DOOR_CONFIG"

DEFAULT_DATA_DIR = Path("~/.local/share/openplus-door")
DEFAULT_LOCK_PIN = 17
DEFAULT_LOCK_ACTIVE_HIGH = True


def resolve_config_path(flag: Path | None) -> Path | None:
    """The configuration file to read: --config, else $OPENPLUS_DOOR_CONFIG, else none (defaults)."""
    if flag is not None:
        return Path(flag)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


def resolve_data_dir(configured: Path | str) -> Path:
    """The data directory: $OPENPLUS_DOOR_DATA_DIR wins over the file's value; ~ is expanded."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override or configured).expanduser()
