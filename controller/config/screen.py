"""The `[screen]` section: the door screen page the door process serves to a kiosk browser.

The page shows what the door says to the member at the entrance (controller/door/screen/). It
is served on a loopback address only: it needs no sign-in because nothing but the browser on
this machine can reach it, and it shows nothing a passer-by at the door could not see anyway.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from controller.config.section import Section

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: the only addresses the screen may bind."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ScreenSettings(Section):
    """The door screen page (off by default: a door without a display needs no server)."""

    enabled: bool = Field(False, description="Serve the door screen page from the door process.")
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        max_length=253,
        description="Bind address: a loopback address only (the kiosk is on this machine).",
    )
    port: int = Field(8010, ge=0, le=65535, description="0 picks a free port (tests, the simulator).")
    heartbeat_seconds: float = Field(
        1.0,
        ge=0.2,
        le=2.0,
        allow_inf_nan=False,
        description="A beat on the event stream so the page notices a silent door process.",
    )
    offline_after_seconds: float = Field(
        3.0,
        ge=1.0,
        le=4.5,
        allow_inf_nan=False,
        description="With no beat for this long the page says 'Storing / Out of order'.",
    )
    max_clients: int = Field(4, ge=1, le=32, description="Open event streams at once; more are refused.")

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        if not is_loopback(host):
            raise ValueError(
                f"the door screen is served on a loopback address only "
                f"(127.0.0.1, ::1 or localhost), not {host!r}"
            )
        return host

    @model_validator(mode="after")
    def _beat_before_offline(self) -> ScreenSettings:
        if self.offline_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                "offline_after_seconds must be at least twice heartbeat_seconds, "
                "or one late beat shows 'Storing'"
            )
        return self
