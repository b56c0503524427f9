"""Time in one place: store UTC, show Europe/Amsterdam, and let tests inject the clock."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]

BRANCH_TZ = ZoneInfo("Europe/Amsterdam")


def utc_now() -> datetime:
    """The real clock: an aware UTC datetime."""
    return datetime.now(timezone.utc)


def require_aware(moment: datetime) -> datetime:
    """Refuse naive datetimes: a naive time on a DST day is ambiguous."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware datetime")
    return moment


def to_local(moment: datetime, tz: ZoneInfo = BRANCH_TZ) -> datetime:
    """The branch's wall-clock time for an aware moment."""
    return require_aware(moment).astimezone(tz)


def local_date(moment: datetime, tz: ZoneInfo = BRANCH_TZ) -> date:
    """The branch's calendar date at an aware moment (what 'valid until' dates mean)."""
    return to_local(moment, tz).date()


def to_utc(moment: datetime) -> datetime:
    return require_aware(moment).astimezone(timezone.utc)


def format_local(moment: datetime, tz: ZoneInfo = BRANCH_TZ) -> str:
    """'2026-03-29 03:15 CEST': what people read in logs and pages."""
    return to_local(moment, tz).strftime("%Y-%m-%d %H:%M:%S %Z")
