"""One validated settings object, loaded once at start-up and passed to whoever needs it.

Every setting has a default so the demo runs with no file at all; a bad file stops start-up
with a message naming the file, the key and the problem (`ConfigError`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    IPvAnyNetwork,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from controller.config.alerts import AlertSettings
from controller.config.backup import BackupSettings
from controller.config.counter import Counting, CountingSettings
from controller.config.defaults import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    resolve_config_path,
    resolve_data_dir,
)
from controller.config.display import DisplaySettings
from controller.config.fleet import FleetSettings
from controller.config.hardware import HardwareSettings
from controller.config.lms import EligibilitySettings, LmsSettings
from controller.config.metrics import MetricsSettings
from controller.config.outputs import BuildingOutputs
from controller.config.pins import number_or_name
from controller.config.privacy import PrivacySettings
from controller.config.screen import ScreenSettings
from controller.config.section import Section, describe_problem
from controller.config.voice import VoiceSettings
from controller.system.logging_setup import LogLevel


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names file, key and problem."""


class BranchSettings(Section):
    name: str = Field("Demo branch", min_length=1, description="Shown on pages and in events.")
    door: str = Field("entrance", min_length=1, description="Name of this door in events.")


class StorageSettings(Section):
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description=f"Database, PIN key and footage live here; {DATA_DIR_ENV} overrides it.",
    )


# Every number has a finite upper bound (and every float refuses inf and nan): `inf`, `nan`,
# `1e308` or `1e15` used to pass here and crash later (the door loop at the first opening, the
# recorder at its first quota check, a serial port at open), after check-config had said "ok".
DAY_SECONDS = 24 * 60 * 60
HOUR_SECONDS = 60 * 60
MAX_CAMERA_INDEX = 63  # /dev/video0 .. /dev/video63


CameraSource = Annotated[
    int | str,
    number_or_name(
        f"a camera number is 0-{MAX_CAMERA_INDEX}; a stream or file is a text such as 'rtsp://...'",
        MAX_CAMERA_INDEX,
    ),
]


class AccessSettings(Section):
    max_wrong_pins: int = Field(5, ge=1, le=20, description="Wrong PINs before the card locks.")
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    staff_allowed_when_closed: bool = Field(
        False, description="Let staff/cleaner cards in outside opening hours and on closure days."
    )
    reader_failure_threshold: int = Field(
        10,
        ge=2,
        le=1000,
        description="Refusals at any of the door's readers within the window before they all slow down.",
    )
    reader_failure_window_seconds: int = Field(120, ge=10, le=DAY_SECONDS)
    reader_slowdown_seconds: float = Field(
        5.0,
        gt=0,
        le=HOUR_SECONDS,
        allow_inf_nan=False,
        description="First enforced pause; doubles per extra failure.",
    )
    reader_slowdown_max_seconds: float = Field(
        120.0,
        gt=0,
        le=HOUR_SECONDS,
        allow_inf_nan=False,
        description="The pause stops doubling here; at least reader_slowdown_seconds.",
    )

    @field_validator("reader_slowdown_max_seconds")
    @classmethod
    def _max_not_below_first(cls, value: float, info: ValidationInfo) -> float:
        first = info.data.get("reader_slowdown_seconds")  # absent when it was itself invalid
        if first is not None and value < first:
            raise PydanticCustomError(
                "slowdown_order", "must be at least reader_slowdown_seconds ({first})", {"first": first}
            )
        return value


class EventSettings(Section):
    retention_days: int = Field(90, ge=1, le=3650, description="Events older than this are purged daily.")


MORE_TIME_MAX_UNLOCK_SECONDS = 120
# Each "more time" setting, the normal setting it may not be below, and its own upper bound.
MORE_TIME_OF = {
    "more_time_unlock_seconds": "unlock_seconds",
    "more_time_held_open_seconds": "held_open_seconds",
}
MORE_TIME_MAX = {
    "more_time_unlock_seconds": MORE_TIME_MAX_UNLOCK_SECONDS,
    "more_time_held_open_seconds": HOUR_SECONDS,
}


class DoorSettings(Section):
    pin_timeout_seconds: float = Field(
        10.0, gt=0, le=120, allow_inf_nan=False, description="Quiet time before a half-typed PIN is dropped."
    )
    realtime_priority: int = Field(
        10,
        ge=0,
        le=49,
        description="Round-robin real-time priority of the door thread (0: normal scheduling). "
        "Needs root or the unit's LimitRTPRIO; refused, the door runs normally.",
    )
    unlock_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description="Relay on after a grant; ends early when the door opens and shuts.",
    )
    held_open_seconds: float = Field(
        30.0,
        gt=0,
        le=HOUR_SECONDS,
        allow_inf_nan=False,
        description="Open longer than this raises a held-open alarm.",
    )
    rex_grace_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        allow_inf_nan=False,
        description="After an exit request, opening the door is not 'forced'.",
    )
    rex_unlocks: bool = Field(True, description="The exit button also pulses the lock (needed for maglocks).")
    staffed_door_free: bool = Field(True, description="Hold the door unlocked during staffed hours.")
    message_seconds: float = Field(
        4.0,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description="How long a door message shows before the card prompt.",
    )
    key_beep_seconds: float = Field(0.05, gt=0, le=1, allow_inf_nan=False)
    alarm_beep_seconds: float = Field(0.5, gt=0, le=10, allow_inf_nan=False)
    closing_warning_minutes: list[Annotated[int, Field(gt=0, le=240)]] = Field(
        [15, 5], description="Warn this many minutes before Open+ ends (buzzer pattern + event)."
    )
    closing_announcement_command: str = Field(
        "", description="Run at each closing warning, e.g. 'aplay /etc/openplus-door/closing-{minutes}.wav'."
    )
    operator_pulse_seconds: float = Field(
        1.0,
        gt=0,
        le=30,
        allow_inf_nan=False,
        description="How long the door operator's trigger output ([hardware.door_operator]) is on.",
    )
    more_time_unlock_seconds: float = Field(
        15.0,
        gt=0,
        le=MORE_TIME_MAX_UNLOCK_SECONDS,
        allow_inf_nan=False,
        description="Unlock time for a member with 'more time'; at least unlock_seconds "
        "(left out, it follows a larger unlock_seconds).",
    )
    more_time_held_open_seconds: float = Field(
        120.0,
        gt=0,
        le=HOUR_SECONDS,
        allow_inf_nan=False,
        description="Held-open limit when a member with 'more time' opened the door; at least "
        "held_open_seconds (left out, it follows a larger held_open_seconds).",
    )
    closing_round_minutes: float = Field(
        10.0,
        ge=0,
        le=240,
        allow_inf_nan=False,
        description="With a people counter: how long after "
        "Open+ ends the door waits for the last people to leave before alerting (it arms only when empty).",
    )

    @model_validator(mode="before")
    @classmethod
    def _more_time_follows_normal(cls, data: Any) -> Any:
        """A more-time value left out is never below its normal one: a library raising
        unlock_seconds need not know about more time to start."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for more, normal in MORE_TIME_OF.items():
            given = data.get(normal)
            if more not in data and isinstance(given, (int, float)) and not isinstance(given, bool):
                # Within its own bound: a normal value out of range is refused by its own name.
                filled[more] = min(max(cls.model_fields[more].default, given), MORE_TIME_MAX[more])
        return filled

    @field_validator("more_time_unlock_seconds", "more_time_held_open_seconds")
    @classmethod
    def _more_time_not_below_normal(cls, value: float, info: ValidationInfo) -> float:
        normal_key = MORE_TIME_OF[str(info.field_name)]
        normal = info.data.get(normal_key)  # absent when it was itself invalid
        if normal is not None and value < normal:
            raise PydanticCustomError(
                "more_time_below_normal",
                "must be at least {normal_key} ({normal})",
                {"normal_key": normal_key, "normal": normal},
            )
        return value


class LoggingSettings(Section):
    level: LogLevel = Field(
        "info", description="Least severe records written to stderr (the journal under systemd)."
    )


class CameraSettings(Section):
    """The entrance camera: records in Open+ hours only, with a clip around every entry event."""

    enabled: bool = Field(False, description="Record at all; off by default so the demo needs no camera.")
    source: CameraSource = Field(
        0,
        description="What the recorder opens: a camera index, an rtsp:// URL or a video file "
        "(a file is replayed at its own frame rate, like a live camera).",
    )
    mode: Literal["auto", "copy", "decode"] = Field(
        "auto",
        description="copy: the IP camera's H.264 stored as it comes (PyAV, no re-encoding, plays "
        "in browsers; max_width/height/fps do not apply); decode: OpenCV re-encodes each frame "
        "(USB cameras); auto: copy for an rtsp:// or rtsps:// source, decode otherwise.",
    )
    footage_dir: Path | None = Field(None, description="Where footage goes; default <data_dir>/footage.")
    segment_seconds: int = Field(300, ge=1, le=3600, description="Length of each continuous recording file.")
    pre_event_seconds: float = Field(
        10.0, ge=0, le=60, allow_inf_nan=False, description="Clip footage kept from before an event."
    )
    post_event_seconds: float = Field(
        10.0, ge=0, le=120, allow_inf_nan=False, description="Clip footage recorded after an event."
    )
    max_width: int = Field(1280, ge=16, le=3840)
    max_height: int = Field(720, ge=16, le=2160)
    max_fps: float = Field(
        10.0, gt=0, le=30, allow_inf_nan=False, description="Frames above this rate are skipped."
    )
    retention_days: int = Field(
        7, ge=1, le=28, description="Footage older than this is deleted daily (Dutch DPA: at most 4 weeks)."
    )
    max_gb: float = Field(
        20.0,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        description="Disk quota for all footage; oldest segments go first.",
    )
    min_free_mb: int = Field(
        500, ge=0, le=100_000_000, description="Stop writing (camera fault) when the disk has less free."
    )
    stall_seconds: float = Field(
        5.0, gt=0, le=300, allow_inf_nan=False, description="No frame for this long is a camera fault."
    )
    retry_max_seconds: float = Field(
        60.0,
        gt=0,
        le=HOUR_SECONDS,
        allow_inf_nan=False,
        description="Longest wait between attempts to reopen the camera.",
    )
    record_alarms_any_time: bool = Field(
        False, description="Also clip forced-door and held-open alarms outside Open+ hours."
    )
    max_concurrent_clips: int = Field(
        4, ge=1, le=32, description="More events at once fall back to the segment."
    )
    notify_queue_size: int = Field(
        256, ge=1, le=100_000, description="Event notices waiting for the recorder; more are dropped."
    )
    in_process: bool = Field(True, description="Run the recorder in its own process (else a thread).")
    loop_video_file: bool = Field(
        False, description="Replay a video-file source from its start when it ends (the simulator's camera)."
    )


class WebSettings(Section):
    """The admin API and pages (`openplus-door web`)."""

    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        max_length=64,
        description="Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed, as "
        "addresses or networks (e.g. ['127.0.0.1'] for a proxy on this machine). Empty (the "
        "default): the headers are ignored, so no one can pick the address the sign-in "
        "throttle counts and the events record.",
    )


class Settings(Section):
    """The whole configuration file, section by section."""

    branch: BranchSettings = BranchSettings()
    storage: StorageSettings = StorageSettings()
    access: AccessSettings = AccessSettings()
    events: EventSettings = EventSettings()
    door: DoorSettings = DoorSettings()
    hardware: HardwareSettings = HardwareSettings()
    camera: CameraSettings = CameraSettings()
    counter: Counting = CountingSettings()  # [counter], after [hardware] and [camera]: it checks them
    logging: LoggingSettings = LoggingSettings()
    web: WebSettings = WebSettings()
    lms: LmsSettings = LmsSettings()
    eligibility: EligibilitySettings = EligibilitySettings()
    display: DisplaySettings = DisplaySettings()
    voice: VoiceSettings = VoiceSettings()
    screen: ScreenSettings = ScreenSettings()
    alerts: AlertSettings = AlertSettings()
    backup: BackupSettings = BackupSettings()
    privacy: PrivacySettings = PrivacySettings()
    metrics: MetricsSettings = MetricsSettings()
    fleet: FleetSettings = FleetSettings()  # [fleet]: publishing to the organisation's MQTT broker
    outputs: BuildingOutputs = Field(
        default_factory=list
    )  # [[outputs]], after [hardware]: its pins are checked

    @property
    def data_dir(self) -> Path:
        """The data directory, with the environment override applied and ~ expanded."""
        return resolve_data_dir(self.storage.data_dir)


def parse_settings(raw: dict[str, Any], source: str) -> Settings:
    """Validate an already-parsed TOML document; `source` names it in errors."""
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(describe_problem(err) for err in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def load_settings(path: Path | None = None) -> Settings:
    """Load the file at `path` (or $OPENPLUS_DOOR_CONFIG); defaults when neither is given."""
    path = resolve_config_path(path)
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
