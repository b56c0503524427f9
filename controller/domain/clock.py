"""Time in one place: store UTC, show Europe/Amsterdam, and let tests inject the clock.

Two clocks, two jobs. `Clock` is wall time: event stamps and the schedule. `Monotonic` is
seconds that only move forward: every deadline on the door (unlock pulse, PIN timeout,
held-open, message, exit grace). A Pi has no RTC; an NTP step, `date -s` or a spoofed NTP
answer moves wall time by hours, and a pulse measured on it would keep the lock open as long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]  # seconds; only differences mean anything

BRANCH_TZ = ZoneInfo("Europe/Amsterdam")


def utc_now() -> datetime:
    """The real clock: an aware UTC datetime."""
    return datetime.now(UTC)


def monotonic() -> float:
    """The real monotonic clock (CLOCK_MONOTONIC: not stepped by NTP or `date -s`)."""
    return time.monotonic()


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
    return require_aware(moment).astimezone(UTC)


def format_local(moment: datetime, tz: ZoneInfo = BRANCH_TZ) -> str:
    """'2026-03-29 03:15 CEST': what people read in logs and pages."""
    return to_local(moment, tz).strftime("%Y-%m-%d %H:%M:%S %Z")
