"""The `[metrics]` section: who may read `/metrics`, and when the disk counts as low.

`/metrics` (Prometheus text format) says how busy the door is and what failed, not who came
in; still, door activity by the minute is nobody else's business. A scraper is admitted when
its address is in `allow_from` (Prometheus scrapes from a fixed host; the address is the one
the web process sees, or behind a reverse proxy listed in `[web] trusted_proxies` the
forwarded client's), or with a bearer token of a user holding the security role (an admin
can look with curl). The default list is empty: nobody is admitted by address until listed,
because a reverse proxy on this machine that is not in trusted_proxies makes every visitor
look like 127.0.0.1.
"""

from __future__ import annotations

from pydantic import Field, IPvAnyNetwork

from controller.config.section import Section


class MetricsSettings(Section):
    """`/metrics` and the disk check of `/api/v1/health`."""

    allow_from: list[IPvAnyNetwork] = Field(
        default_factory=list,
        max_length=64,
        description="Addresses or networks that may read /metrics without a token, e.g. "
        "['192.0.2.10'] for the Prometheus server. Empty (the default): a security token only.",
    )
    disk_low_mb: int = Field(
        1000,
        ge=0,
        le=100_000_000,
        description="/api/v1/health says the disk is low below this many MB free where the "
        "footage goes (the camera itself stops at [camera] min_free_mb).",
    )
