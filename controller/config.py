"""One validated settings object, loaded once at start-up and passed to whoever needs it.

Every setting has a default so the demo runs with no file at all; a bad file stops start-up
with a message naming the file, the key and the problem (`ConfigError`).
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DATA_DIR_ENV = "OPENPLUS_DOOR_DATA_DIR"
CONFIG_ENV = "OPENPLUS_DOOR_CONFIG"


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names file, key and problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BranchSettings(_Section):
    name: str = Field("Demo branch", min_length=1, description="Shown on pages and in events.")
    door: str = Field("entrance", min_length=1, description="Name of this door in events.")


class StorageSettings(_Section):
    data_dir: Path = Field(
        Path("~/.local/share/openplus-door"),
        description=f"Database, PIN key and footage live here; {DATA_DIR_ENV} overrides it.",
    )


class AccessSettings(_Section):
    max_wrong_pins: int = Field(5, ge=1, le=20, description="Wrong PINs before the card locks.")
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    staff_allowed_when_closed: bool = Field(
        False, description="Let staff/cleaner cards in outside opening hours and on closure days."
    )
    reader_failure_threshold: int = Field(
        10, ge=2, description="Refusals from one reader within the window before it slows down."
    )
    reader_failure_window_seconds: int = Field(120, ge=10)
    reader_slowdown_seconds: float = Field(
        5.0, gt=0, description="First enforced pause; doubles per extra failure."
    )
    reader_slowdown_max_seconds: float = Field(120.0, gt=0)


class EventSettings(_Section):
    retention_days: int = Field(90, ge=1, le=3650, description="Events older than this are purged daily.")


class Settings(_Section):
    """The whole configuration file, section by section."""

    branch: BranchSettings = BranchSettings()
    storage: StorageSettings = StorageSettings()
    access: AccessSettings = AccessSettings()
    events: EventSettings = EventSettings()

    @property
    def data_dir(self) -> Path:
        """The data directory, with the environment override applied and ~ expanded."""
        override = os.environ.get(DATA_DIR_ENV)
        return Path(override or self.storage.data_dir).expanduser()


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: required value is missing"
    return f"{key}: {error['msg']} (got {error.get('input')!r})"


def parse_settings(raw: dict[str, Any], source: str) -> Settings:
    """Validate an already-parsed TOML document; `source` names it in errors."""
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def load_settings(path: Path | None = None) -> Settings:
    """Load the file at `path` (or $OPENPLUS_DOOR_CONFIG); defaults when neither is given."""
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is None:
        return Settings()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_settings(raw, str(path))
