"""One validated settings object, loaded once at start-up and passed to whoever needs it.

Every setting has a default so the demo runs with no file at all; a bad file stops start-up
with a message naming the file, the key and the problem (`ConfigError`).
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

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


class DoorSettings(_Section):
    pin_timeout_seconds: float = Field(10.0, gt=0, le=120, description="Quiet time before a half-typed PIN is dropped.")
    unlock_seconds: float = Field(5.0, gt=0, le=60, description="Relay on after a grant; ends early when the door opens and shuts.")
    held_open_seconds: float = Field(30.0, gt=0, description="Open longer than this raises a held-open alarm.")
    rex_grace_seconds: float = Field(10.0, gt=0, description="After an exit request, opening the door is not 'forced'.")
    rex_unlocks: bool = Field(True, description="The exit button also pulses the lock (needed for maglocks).")
    staffed_door_free: bool = Field(True, description="Hold the door unlocked during staffed hours.")
    message_seconds: float = Field(4.0, gt=0, description="How long a door message shows before the card prompt.")
    key_beep_seconds: float = Field(0.05, gt=0)
    alarm_beep_seconds: float = Field(0.5, gt=0)
    closing_warning_minutes: list[int] = Field(
        [15, 5], description="Warn this many minutes before Open+ ends (buzzer pattern + event)."
    )


class _Reader(_Section):
    name: str = Field(min_length=1, description="Names the reader in events.")


class Rdm6300Reader(_Reader):
    type: Literal["rdm6300"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/serial0.")
    baudrate: int = 9600


class BarcodeReader(_Reader):
    type: Literal["barcode"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/ttyACM0.")
    baudrate: int = 9600


class KeyboardWedgeReader(_Reader):
    type: Literal["keyboard_wedge"]
    device: str = Field(min_length=1, description="/dev/input/... path or the device's name.")
    grab: bool = True


class WiegandReader(_Reader):
    type: Literal["wiegand"]
    d0_pin: int | str
    d1_pin: int | str


class MatrixKeypadReader(_Reader):
    type: Literal["matrix_keypad"]
    row_pins: list[int | str] = Field(min_length=4, max_length=4)
    col_pins: list[int | str] = Field(min_length=3, max_length=4)


class OsdpReader(_Reader):
    type: Literal["osdp"]
    port: str = Field(min_length=1, description="RS-485 serial device, e.g. /dev/ttyUSB0.")
    address: int = Field(0, ge=0, le=126)
    baudrate: int = 9600
    scbk_file: Path = Field(description="16-byte secure-channel key, mode 0600.")


ReaderSettings = Annotated[
    Union[Rdm6300Reader, BarcodeReader, KeyboardWedgeReader, WiegandReader, MatrixKeypadReader,
          OsdpReader],
    Field(discriminator="type"),
]


class OutputPin(_Section):
    pin: int | str
    active_high: bool = True


class IndicatorPins(_Section):
    green_pin: int | str = 5
    red_pin: int | str = 6
    buzzer_pin: int | str | None = 13
    active_high: bool = True


class HardwareSettings(_Section):
    """Which pins and readers this door has (BCM numbering); the defaults match the README's wiring."""

    lock: OutputPin = OutputPin(pin=17)
    door_contact_pin: int | str = 27
    door_open_when_high: bool = Field(True, description="NC contact to ground with pull-up: open reads high.")
    rex_pin: int | str = 22
    indicator: IndicatorPins = IndicatorPins()
    lights: OutputPin | None = None
    alarm: OutputPin | None = None
    readers: list[ReaderSettings] = Field(
        default_factory=lambda: [
            Rdm6300Reader(type="rdm6300", name="rfid", port="/dev/serial0"),
            WiegandReader(type="wiegand", name="keypad", d0_pin=23, d1_pin=24),
        ],
        min_length=1,
    )


class Settings(_Section):
    """The whole configuration file, section by section."""

    branch: BranchSettings = BranchSettings()
    storage: StorageSettings = StorageSettings()
    access: AccessSettings = AccessSettings()
    events: EventSettings = EventSettings()
    door: DoorSettings = DoorSettings()
    hardware: HardwareSettings = HardwareSettings()

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
