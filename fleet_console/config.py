"""The console's own configuration file (TOML): `[console]` and `[broker]`.

Read like the branch's config (controller.config.settings): unknown keys are errors naming the key
(the branch's Section base), and a file that cannot be read or parsed is a ConfigError naming it.

    [console]
    key_file = "/etc/openplus-door/fleet.key"   # the fleet's private key: only on the console
    data_dir = "/var/lib/openplus-door-fleet"    # the console's database (the CLI may override)

    [broker]
    host = "mqtt.example.org"
    port = 8883
    username = "console"
    password = "..."
    topic_prefix = "openplus"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from controller.config.fleet import TOPIC_PART
from controller.config.section import Section, describe_problem
from controller.config.settings import ConfigError

__all__ = ["BrokerSettings", "ConfigError", "ConsoleSection", "ConsoleSettings", "load_console_settings"]

DEFAULT_DATA_DIR = Path("/var/lib/openplus-door-fleet")
CLIENT_ID = "openplus-door-console"


class ConsoleSection(Section):
    key_file: Path | None = Field(
        None, description="The fleet's Ed25519 private key (PEM); without it nothing can be sent."
    )
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Where the console keeps its database.")
    keep_events_days: int = Field(
        90, ge=1, le=3650, description="Days the branches' events are kept (open alerts stay until closed)."
    )
    door_name: str = Field(
        "console", min_length=1, max_length=64, description="How the console's own audit events name it."
    )


class BrokerSettings(Section):
    """Where the console reads the branches and sends commands: one persistent session, so what
    the branches published while the console was down is delivered when it is back."""

    host: str = Field("localhost", min_length=1, max_length=253)
    port: int = Field(8883, ge=1, le=65535)
    tls: bool = Field(True, description="Connect with TLS (checks the broker's certificate).")
    ca_file: Path | None = None
    username: str = Field("", max_length=256)
    password: str = Field("", max_length=1024)
    topic_prefix: str = Field("openplus", pattern=TOPIC_PART)
    client_id: str = Field(CLIENT_ID, pattern=TOPIC_PART)
    keepalive_seconds: int = Field(30, ge=5, le=3600)
    reconnect_max_seconds: float = Field(30.0, ge=0.05, le=3600, allow_inf_nan=False)

    @model_validator(mode="after")
    def _credentials_whole(self) -> BrokerSettings:
        if self.password and not self.username:
            raise ValueError("[broker] password is set without a username")
        return self


class ConsoleSettings(Section):
    console: ConsoleSection = ConsoleSection()
    broker: BrokerSettings = BrokerSettings()


def parse_console_settings(raw: dict[str, Any], source: str) -> ConsoleSettings:
    try:
        return ConsoleSettings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {'; '.join(describe_problem(err) for err in exc.errors())}") from None


def load_console_settings(path: Path | None) -> ConsoleSettings:
    """The file at `path`, or the defaults without one (a console on localhost, no key)."""
    if path is None:
        return ConsoleSettings()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_console_settings(raw, str(path))
