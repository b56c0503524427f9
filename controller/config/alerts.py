"""The `[alerts]` section: which events reach a person, when, how often, and over what.

In unstaffed hours nobody reads the Today page, so a forced door or a dead reader must reach
someone: by email (SMTP with STARTTLS), a webhook (JSON POST signed with HMAC-SHA256) or an
MQTT topic. Off by default (a demo or test door sends nothing); with it on, every alert is also
listed on the Today page until security acknowledges it, channels or not.

    [alerts]
    enabled = true
    quiet = ["12:00-13:00"]              # branch time; alerts raised then are listed, not sent
    min_interval_minutes = 15            # per kind: more of the same kind fold into the last one
    [alerts.min_interval_by_kind]
    door_forced = 1
    [[alerts.rules]]
    kinds = ["door_forced", "door_held_open", "help_requested"]
    modes = ["openplus", "closed", "closure"]   # empty: any mode
    hours = ["17:00-09:00"]                     # empty: all day
    channels = ["email", "mqtt"]                # empty: every configured channel
    [alerts.email]
    host = "smtp.example.org"
    sender = "deur@example.org"
    recipients = ["beveiliging@example.org"]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from controller.config.section import Section
from controller.domain.modes import DoorMode


class AlertKind(StrEnum):
    """What an alert is about; each comes from one event type (and reason)."""

    DOOR_FORCED = "door_forced"
    DOOR_HELD_OPEN = "door_held_open"
    HELP_REQUESTED = "help_requested"
    CARD_CYCLING = "card_cycling"
    LOCKOUTS_ESCALATING = "lockouts_escalating"
    READER_FAULT = "reader_fault"
    CAMERA_FAULT = "camera_fault"  # also a full footage disk: the recorder reports it so
    OUTPUT_FAULT = "output_fault"
    LMS_LOST = "lms_lost"
    DOOR_LOOP_LATE = "door_loop_late"
    SIGN_IN_PAUSED = "sign_in_paused"
    CONTROLLER_BACK = "controller_back"  # the door process started after an unclean stop
    TAILGATING = "tailgating"  # more people in than grants in one door opening (people counter)
    OCCUPIED_AT_CLOSING = "occupied_at_closing"  # someone inside after the closing round
    FLEET_COMMAND_REFUSED = "fleet_command_refused"  # a fleet command refused (signature, replay, ...)
    SPILL_SET_ASIDE = "spill_set_aside"  # events that could not be stored were set aside in a file


ChannelName = Literal["email", "webhook", "mqtt"]
CHANNEL_NAMES: tuple[ChannelName, ...] = ("email", "webhook", "mqtt")
Host = Annotated[str, Field(min_length=1, max_length=253)]
Timeout = Annotated[float, Field(gt=0, le=60, allow_inf_nan=False)]


@dataclass(frozen=True)
class Window:
    """A branch-local period of the day, `start` included, `end` not; it may span midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Window:
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ValueError(f"{text!r} is not a period of the day like '18:00-08:00'") from None
        if start == end:
            raise ValueError(f"{text!r} starts and ends at the same time; leave it out for all day")
        return cls(start, end)

    def contains(self, local: time) -> bool:
        local = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def _windows(texts: list[str]) -> list[str]:
    for text in texts:
        Window.parse(text)  # raises naming the bad one
    return texts


def in_any(periods: list[str], local: time) -> bool:
    return any(Window.parse(text).contains(local) for text in periods)


class EmailChannel(Section):
    """SMTP, upgraded with STARTTLS (the only way it is sent), login when a user is given."""

    host: Host
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="Off only for a relay on this machine (localhost).")
    ca_file: Path | None = Field(None, description="CA bundle for STARTTLS (default: the system's).")
    username: str = Field("", max_length=200)
    password: str = Field("", max_length=200, repr=False)
    sender: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    recipients: list[Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        min_length=1, max_length=20
    )
    timeout_seconds: Timeout = 10.0

    @model_validator(mode="after")
    def _login_whole(self) -> EmailChannel:
        if bool(self.username) != bool(self.password):
            raise ValueError("username and password go together")
        if self.username and not self.starttls and self.host not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError("a login over SMTP needs starttls (the password would travel in clear)")
        return self


class WebhookChannel(Section):
    """A JSON POST; the body's HMAC-SHA256 under `secret` is sent as X-OpenPlus-Signature."""

    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://")
    secret: str = Field(
        min_length=16,
        max_length=200,
        repr=False,
        description="Shared with the receiver, which checks the signature.",
    )
    timeout_seconds: Timeout = 5.0


class MqttChannel(Section):
    """One message per alert at QoS 1 on `topic` (`{door}` is replaced by the branch door)."""

    host: Host
    port: int = Field(1883, ge=1, le=65535)
    topic: str = Field("openplus-door/{door}/alerts", min_length=1, max_length=200)
    username: str = Field("", max_length=200)
    password: str = Field("", max_length=200, repr=False)
    tls: bool = False
    ca_file: Path | None = None
    client_id: str = Field("", max_length=64, description="Default: openplus-door-<door>.")
    timeout_seconds: Timeout = 5.0

    @field_validator("topic")
    @classmethod
    def _no_wildcards(cls, topic: str) -> str:
        if "#" in topic or "+" in topic:
            raise ValueError("an MQTT topic to publish on has no wildcards (+ or #)")
        return topic


class AlertRule(Section):
    """Which alerts go out, and where: a kind with no matching rule is listed, not sent."""

    kinds: list[AlertKind] = Field(default_factory=lambda: list(AlertKind), min_length=1)
    reasons: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="Only events with one of these reasons; empty: any."
    )
    modes: list[DoorMode] = Field(default_factory=list, description="Only in these door modes; empty: any.")
    hours: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Only in these branch-local periods ('18:00-08:00'); empty: all day.",
    )
    channels: list[ChannelName] = Field(
        default_factory=list, description="Where to; empty: every configured channel."
    )

    _check_hours = field_validator("hours")(_windows)


class AlertSettings(Section):
    """Rules, quiet periods, rate limits and the channels (each absent: not used)."""

    enabled: bool = Field(False, description="Raise alerts (door process) and list them on Today.")
    rules: list[AlertRule] = Field(default_factory=lambda: [AlertRule()], max_length=32)
    quiet: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Branch-local periods in which alerts are listed but not sent.",
    )
    min_interval_minutes: float = Field(
        15.0, ge=0, le=1440, allow_inf_nan=False, description="Per kind: at most one alert sent this often."
    )
    min_interval_by_kind: dict[AlertKind, Annotated[float, Field(ge=0, le=1440, allow_inf_nan=False)]] = (
        Field(default_factory=dict)
    )
    expire_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 14,
        allow_inf_nan=False,
        description="An alert not delivered by then is given up (logged).",
    )
    retry_first_seconds: float = Field(5.0, gt=0, le=600, allow_inf_nan=False)
    retry_max_seconds: float = Field(600.0, gt=0, le=86400, allow_inf_nan=False)
    loop_late_seconds: float = Field(
        3.0,
        ge=1,
        le=60,
        allow_inf_nan=False,
        description="The door loop turns every 0.5 s at the least; this long without a turn is an alert.",
    )
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None
    mqtt: MqttChannel | None = None

    _check_quiet = field_validator("quiet")(_windows)

    @model_validator(mode="after")
    def _channels_configured(self) -> AlertSettings:
        for number, rule in enumerate(self.rules, start=1):
            for name in rule.channels:
                if getattr(self, name) is None:
                    raise ValueError(f"rule {number} sends to {name}, but [alerts.{name}] is not set")
        if self.retry_first_seconds > self.retry_max_seconds:
            raise ValueError("retry_first_seconds is more than retry_max_seconds")
        return self

    @property
    def configured_channels(self) -> tuple[ChannelName, ...]:
        return tuple(name for name in CHANNEL_NAMES if getattr(self, name) is not None)

    def min_interval(self, kind: AlertKind) -> float:
        """Minutes between two alerts of `kind` that are sent."""
        return self.min_interval_by_kind.get(kind, self.min_interval_minutes)
