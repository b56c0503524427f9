"""The `[privacy]` section: how long an event keeps the member's patron id (AVG/GDPR).

An access event names the member (`member_ref`) so that security can answer "who came in at
22:10" in the days after. After `member_ref_days` the daily job replaces the patron id by a
keyed pseudonym in place: counts per day, per reason and per (pseudonymous) visitor survive,
the person does not. The event itself goes after [events] retention_days.
"""

from __future__ import annotations

from pydantic import Field

from controller.config.section import Section


class PrivacySettings(Section):
    member_ref_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days an event keeps the member's patron id before it is pseudonymised "
        "(30, as Redia's Open+ does).",
    )
