"""The `[fleet]` section (issue 17): this controller reporting to the organisation's MQTT broker.

Off by default: a door is fully autonomous and needs no broker. Enabled, the door process
publishes its events (pseudonymised, from a persisted outbox, QoS 1), a retained state message
with a last will "offline", and a heartbeat, under `<topic_prefix>/<branch>/...`. In production
the broker is reached over TLS with credentials of this branch alone, so one stolen controller
cannot speak for another. Commands from the console (schedule, blocks, members, rules,
unlock) are applied only when signed by the key whose public half is `command_key_file`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from controller.config.section import Section

TOPIC_PART = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # no '/', '+', '#': one topic level


class FleetSettings(Section):
    """Where and as whom this branch publishes."""

    enabled: bool = Field(False, description="Publish to the fleet's MQTT broker.")
    host: str = Field("localhost", min_length=1, max_length=253, description="The broker's host name.")
    port: int = Field(8883, ge=1, le=65535, description="The broker's port (8883: MQTT over TLS).")
    tls: bool = Field(True, description="Connect with TLS (checks the broker's certificate).")
    ca_file: Path | None = Field(
        None, description="CA certificate(s) for the broker; the system's when empty."
    )
    username: str = Field("", max_length=256, description="This branch's own broker user.")
    password: str = Field("", max_length=1024, description="Its password.")
    branch: str = Field(
        "",
        pattern=r"^$|" + TOPIC_PART,
        description="This branch's id in topics and message ids; empty: [branch] door.",
    )
    topic_prefix: str = Field("openplus", pattern=TOPIC_PART, description="The first topic level.")
    heartbeat_seconds: float = Field(
        60.0, ge=1, le=3600, allow_inf_nan=False, description="How often a heartbeat is published."
    )
    keepalive_seconds: int = Field(
        30,
        ge=5,
        le=3600,
        description="MQTT keepalive: a controller "
        "silent 1.5 times this long is declared offline by its last will.",
    )
    reconnect_max_seconds: float = Field(
        30.0, ge=0.05, le=3600, allow_inf_nan=False, description="Longest wait between connection attempts."
    )
    keep_sent_days: int = Field(7, ge=0, le=365, description="Days sent messages stay in the outbox.")
    command_key_file: Path | None = Field(
        None,
        description="The fleet's public key (fleet.pub from `openplus-door fleet keygen`): "
        "commands signed with its private key are applied; empty: every command is refused.",
    )

    @model_validator(mode="after")
    def _credentials_whole(self) -> FleetSettings:
        if self.password and not self.username:
            raise ValueError("[fleet] password is set without a username")
        return self
