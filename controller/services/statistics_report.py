"""What the Statistics page, its CSV and the council's month page show, read from the rolled-up
counts alone (controller/services/statistics.py): so the same figures come back after the
events themselves are purged.

A report covers local days first..last in buckets of one grain (hour, day, ISO week, month);
for week and month the range is widened to whole weeks or months, so that a bucket's entries
and its distinct members cover the same days. Distinct members exist per day, week and month
only: a member who came in two weeks is one member in the month and one in each week.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from controller.domain.clock import BRANCH_TZ, to_local
from controller.domain.modes import DoorMode
from controller.services.statistics import (
    ALL_MEMBERS,
    OPENPLUS_MEMBERS,
    day_period,
    month_period,
    next_month,
    week_period,
)
from controller.store.codec import from_ms, to_ms
from controller.store.statistics import GRANTED, StatisticsStore

MAX_HOUR_DAYS = 7  # hourly buckets for at most a week (168 bars)
MAX_DAYS = 3 * 366  # a report spans at most three years


class Grain(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class BadPeriod(ValueError):
    """A period the report cannot cover; `code` names why (the pages' catalog key), `days` the
    limit that was passed."""

    def __init__(self, code: str, message: str, days: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.days = days


@dataclass
class Bucket:
    """One bar of the chart and one row of the table and the CSV."""

    start: datetime  # local
    end: datetime  # local, exclusive
    granted_by_mode: Counter[str] = field(default_factory=Counter)
    refused_by_reason: Counter[str] = field(default_factory=Counter)
    members: int | None = None  # distinct members (not for hours)
    openplus_members: int | None = None
    people_in: int = 0
    people_out: int = 0

    @property
    def granted(self) -> int:
        return sum(self.granted_by_mode.values())

    @property
    def refused(self) -> int:
        return sum(self.refused_by_reason.values())

    @property
    def openplus(self) -> int:
        return self.granted_by_mode[DoorMode.OPENPLUS.value]

    @property
    def staffed(self) -> int:
        return self.granted_by_mode[DoorMode.STAFFED.value]

    @property
    def other_modes(self) -> int:
        return self.granted - self.openplus - self.staffed


@dataclass
class Report:
    first: date
    last: date
    grain: Grain
    buckets: list[Bucket]
    busiest: list[int]  # entries per local hour of the day, 0..23, over the whole range
    occupancy: list[float | None]  # people inside at each hour's end, averaged over the days
    members: int | None  # distinct members over the range, when it is one day, week or month
    openplus_members: int | None
    rolled_up_at: datetime | None

    @property
    def granted(self) -> int:
        return sum(b.granted for b in self.buckets)

    @property
    def openplus(self) -> int:
        return sum(b.openplus for b in self.buckets)

    @property
    def staffed(self) -> int:
        return sum(b.staffed for b in self.buckets)

    @property
    def refused(self) -> int:
        return sum(b.refused for b in self.buckets)

    @property
    def openplus_share(self) -> float | None:
        """Open+ entries as a part of all entries (0..1), None without entries."""
        return self.openplus / self.granted if self.granted else None

    @property
    def refusals(self) -> list[tuple[str, int]]:
        """(reason, count), most first, then by reason."""
        total: Counter[str] = Counter()
        for bucket in self.buckets:
            total.update(bucket.refused_by_reason)
        return sorted(total.items(), key=lambda item: (-item[1], item[0]))

    @property
    def busiest_hours(self) -> list[int]:
        """The (up to) three local hours with the most entries, busiest first."""
        ranked = sorted((h for h in range(24) if self.busiest[h]), key=lambda h: (-self.busiest[h], h))
        return ranked[:3]

    @property
    def has_people(self) -> bool:
        return any(value is not None for value in self.occupancy)


def widen(first: date, last: date, grain: Grain) -> tuple[date, date]:
    """The range covered: whole ISO weeks or months for those grains."""
    if last < first:
        raise BadPeriod("end_before_start", "the end is before the start")
    if grain is Grain.WEEK:
        first, last = first - timedelta(days=first.weekday()), last + timedelta(days=6 - last.weekday())
    elif grain is Grain.MONTH:
        first, last = first.replace(day=1), next_month(last) - timedelta(days=1)
    if grain is Grain.HOUR and (last - first).days >= MAX_HOUR_DAYS:
        raise BadPeriod("hours_too_long", f"hours are shown for at most {MAX_HOUR_DAYS} days", MAX_HOUR_DAYS)
    if (last - first).days >= MAX_DAYS:
        raise BadPeriod("too_long", f"a report spans at most {MAX_DAYS} days", MAX_DAYS)
    return first, last


def build_report(store: StatisticsStore, first: date, last: date, grain: Grain) -> Report:
    """The report of local days first..last (BadPeriod when it cannot be made)."""
    first, last = widen(first, last, grain)
    buckets = list(_empty_buckets(first, last, grain))
    starts = [to_ms(b.start) for b in buckets]  # ms: datetimes in one zone ignore `fold`
    busiest = [0] * 24
    for row in store.hours(first, last):
        bucket = buckets[_index(starts, _local_start(row.hour_ms, row.day, grain))]
        if row.outcome == GRANTED:
            bucket.granted_by_mode[row.mode] += row.count
            busiest[row.hour] += row.count
        else:
            bucket.refused_by_reason[row.reason] += row.count
    occupancy = _people(store, first, last, grain, buckets, starts)
    if grain is not Grain.HOUR:
        found = store.uniques(_period(b.start.date(), grain) for b in buckets)
        for bucket in buckets:
            period = _period(bucket.start.date(), grain)
            bucket.members = found.get((period, ALL_MEMBERS), 0)
            bucket.openplus_members = found.get((period, OPENPLUS_MEMBERS), 0)
    whole = _whole_period(first, last)
    totals = store.uniques([whole]) if whole else {}
    return Report(
        first,
        last,
        grain,
        buckets,
        busiest,
        occupancy,
        totals.get((whole, ALL_MEMBERS), 0) if whole else None,
        totals.get((whole, OPENPLUS_MEMBERS), 0) if whole else None,
        store.rolled_up_at(),
    )


def csv_text(report: Report) -> Iterator[str]:
    """The report's buckets as CSV lines (local times; one column per refusal reason found)."""
    reasons = sorted({reason for reason, _ in report.refusals})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def line(row: list[object]) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        return out.getvalue()

    yield line(
        [
            "start",
            "end",
            "entries",
            "entries_openplus",
            "entries_staffed",
            "entries_other_modes",
            "refused",
            *(f"refused_{r}" for r in reasons),
            "distinct_members",
            "distinct_members_openplus",
            "people_in",
            "people_out",
        ]
    )
    for b in report.buckets:
        yield line(
            [
                b.start.isoformat(),
                b.end.isoformat(),
                b.granted,
                b.openplus,
                b.staffed,
                b.other_modes,
                b.refused,
                *(b.refused_by_reason[r] for r in reasons),
                "" if b.members is None else b.members,
                "" if b.openplus_members is None else b.openplus_members,
                b.people_in,
                b.people_out,
            ]
        )


# --- buckets ------------------------------------------------------------------------------------
def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BRANCH_TZ)


def _empty_buckets(first: date, last: date, grain: Grain) -> Iterator[Bucket]:
    """Every bucket of the range, the empty ones too; hours walk UTC (23 or 25 on DST days)."""
    end_day = last + timedelta(days=1)
    if grain is Grain.HOUR:
        hour, stop = to_ms(_midnight(first)), to_ms(_midnight(end_day))
        while hour < stop:
            yield Bucket(to_local(from_ms(hour)), to_local(from_ms(hour + 3_600_000)))
            hour += 3_600_000
        return
    day = first
    while day < end_day:
        following = (
            day + timedelta(days=1)
            if grain is Grain.DAY
            else day + timedelta(days=7)
            if grain is Grain.WEEK
            else next_month(day)
        )
        yield Bucket(_midnight(day), _midnight(following))
        day = following


def _local_start(hour_ms: int, day: date, grain: Grain) -> datetime:
    """The start of the bucket a stored hour falls in."""
    if grain is Grain.HOUR:
        return to_local(from_ms(hour_ms))
    if grain is Grain.WEEK:
        day -= timedelta(days=day.weekday())
    elif grain is Grain.MONTH:
        day = day.replace(day=1)
    return _midnight(day)


def _index(starts: list[int], start: datetime) -> int:
    """Which bucket `start` opens, by UTC ms (two local datetimes in one zone compare by their
    wall time, so the October day's two 02:00 hours would be one)."""
    return bisect.bisect_right(starts, to_ms(start)) - 1


def _period(day: date, grain: Grain) -> str:
    return {Grain.DAY: day_period, Grain.WEEK: week_period, Grain.MONTH: month_period}[grain](day)


def _whole_period(first: date, last: date) -> str | None:
    """The one day, ISO week or month first..last is, if it is one (else None)."""
    if first == last:
        return day_period(first)
    if first.weekday() == 0 and last == first + timedelta(days=6):
        return week_period(first)
    if first.day == 1 and last == next_month(first) - timedelta(days=1):
        return month_period(first)
    return None


def _people(
    store: StatisticsStore, first: date, last: date, grain: Grain, buckets: list[Bucket], starts: list[int]
) -> list[float | None]:
    """Add the people counter's crossings to the buckets; the average number inside at the end
    of each local hour over the days that have counts (None for an hour without any)."""
    rows = store.people(first, last)
    inside: dict[date, list[int | None]] = {}
    for row in rows:
        bucket = buckets[_index(starts, _local_start(row.hour_ms, row.day, grain))]
        bucket.people_in += row.people_in
        bucket.people_out += row.people_out
        hours = inside.setdefault(row.day, [None] * 24)
        hours[row.hour] = (hours[row.hour] or 0) + row.people_in - row.people_out
    sums: list[list[int]] = [[] for _ in range(24)]
    for hours in inside.values():
        running = 0
        for hour, change in enumerate(hours):
            running += change or 0
            sums[hour].append(running)
    return [sum(values) / len(values) if values else None for values in sums]
