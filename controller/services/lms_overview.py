"""What the pages and the API show about a branch's library-system link: its settings, the
link's last change, and the entries decided without it; the eligibility rules in force
(the fleet's last `rules` command when one was applied, else the config file's).

Here, not in a router: the Today page and GET /api/v1/lms say the same, and the pages may not
import the API. Everything is read from the settings and the event log (the door process owns
the link itself; the web process only sees the `lms_link` events it logged).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import datetime, time

from controller.config.lms import EligibilitySettings, OfflinePolicy
from controller.config.settings import Settings
from controller.domain.clock import BRANCH_TZ, local_date
from controller.domain.events import EventType, LmsLinkReason
from controller.services.lms_access import DECIDED_BY_FIELD
from controller.services.offline_policy import DecidedBy
from controller.store.events import EventFilter, EventLog
from controller.store.fleet_commands import FleetApplied

ACCESS_TYPES = (EventType.ACCESS_GRANTED, EventType.ACCESS_REFUSED)
# The words an access event decided without the LMS carries in its detail.
OFFLINE_WORDS = tuple(f"{DECIDED_BY_FIELD}{path.value}" for path in DecidedBy if path.offline)


def decided_offline(where: EventFilter) -> EventFilter:
    """`where`, narrowed to access events decided without the LMS (any offline path). Only
    access events carry the words; the types (when `where` has none) let SQLite walk the
    (type, ts_ms) index instead of every event."""
    return replace(where, types=where.types or ACCESS_TYPES, detail_any_of=OFFLINE_WORDS)


@dataclass(frozen=True)
class LinkChange:
    """The last `lms_link` event: the link went down (`up` False) or came back, at `at`."""

    up: bool
    at: datetime
    detail: str | None


@dataclass(frozen=True)
class LmsOverview:
    enabled: bool  # [lms] enabled: the door asks the LMS
    offline_policy: OfflinePolicy
    cache_days: int
    eligibility: EligibilitySettings
    last_change: LinkChange | None  # None: the link never changed (or never existed)
    offline_today: int  # access events decided without the LMS since local midnight
    rules_from_fleet: int | None = field(default=None)  # the fleet command's version, if it set them

    @property
    def shown(self) -> bool:
        """Worth a block on the Today page: the branch links to its LMS, or once did."""
        return self.enabled or self.last_change is not None


def lms_overview(settings: Settings, conn: sqlite3.Connection, now: datetime) -> LmsOverview:
    """The branch's LMS settings and, from the event log, the link's last change and the
    number of entries decided offline today (branch-local day)."""
    log = EventLog(conn)
    found = log.query(EventFilter(types=(EventType.LMS_LINK,)), limit=1)
    change = (
        LinkChange(up=found[0].reason == LmsLinkReason.LMS_BACK.value, at=found[0].at, detail=found[0].detail)
        if found
        else None
    )
    midnight = datetime.combine(local_date(now), time(0), tzinfo=BRANCH_TZ)
    offline_today = log.count_matching(decided_offline(EventFilter(since=midnight)))
    eligibility, fleet_version = rules_in_force(settings, conn)
    return LmsOverview(
        enabled=settings.lms.enabled,
        offline_policy=settings.lms.offline_policy,
        cache_days=settings.lms.cache_days,
        eligibility=eligibility,
        last_change=change,
        offline_today=offline_today,
        rules_from_fleet=fleet_version,
    )


def rules_in_force(settings: Settings, conn: sqlite3.Connection) -> tuple[EligibilitySettings, int | None]:
    """The rules the door judges by: a fleet `rules` command's (the door applies it at once
    and again at every start) over the config file's [eligibility]; with its version."""
    applied = FleetApplied(conn)
    body = applied.body_of("rules") if settings.lms.enabled else None
    if body is None:
        return settings.eligibility, None
    try:
        return EligibilitySettings.model_validate(body), applied.last_versions().get("rules")
    except ValueError:  # stored by a version that read them otherwise: the door uses the file's too
        return settings.eligibility, None
