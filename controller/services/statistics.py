"""Statistics that outlive the event log: access events rolled up into hourly counts.

The events table is purged after [events] retention_days; what a library shows its council
(entries per hour, day, week and month, Open+ against staffed hours, distinct members, refusals
by reason, busiest hours) must stay. `roll_up` reads the access events it has not yet seen (by
id: a cursor in the database, moved in the same transaction as the counts it adds, so a second
run, a crash halfway or two processes at once never count an event twice) and adds them to
controller/store/statistics.py's tables. It runs before every purge (the door process's daily
retention job), from `openplus-door stats rollup`, and when the Statistics page is opened.

Hours are branch-local (Europe/Amsterdam): an hour is keyed by its start in UTC, which is a
whole local hour because the offsets are whole hours; so the March day has 23 rows at most and
the October day 25, its two 02:00 hours apart.

Distinct members: a member is counted once per day, ISO week and month, through an HMAC of the
period and the patron id under a key derived from pin.key (a different digest in every period,
so digests of two months cannot be matched). Once a period is over (CLOSE_AFTER later) its
digests are deleted and only the number stays; an event of a closed period that arrives late
still counts as an entry, but no longer as a distinct member.
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from controller.domain.clock import Clock, local_date, to_local
from controller.domain.events import EventType
from controller.domain.modes import DoorMode
from controller.domain.pins import PinHasher
from controller.services.runtime import Runtime
from controller.store.codec import from_ms
from controller.store.db import transaction
from controller.store.events import detail_field
from controller.store.statistics import GRANTED, REFUSED, HourKey, StatisticsStore, hour_key_ms

log = logging.getLogger(__name__)

STATISTICS_KEY_LABEL = b"openplus-door statistics member digest key v1"
ROLLED_TYPES = (EventType.ACCESS_GRANTED.value, EventType.ACCESS_REFUSED.value)
BATCH = 2000  # event ids per transaction: the door's event writer waits at most this long
MODE_FIELD = "mode="  # how an access event's detail names the door mode: "reader=rfid mode=openplus"
UNKNOWN_MODE = "unknown"  # an event from before the mode was written into the detail
ALL_MEMBERS, OPENPLUS_MEMBERS = "all", "openplus"  # the scopes of distinct-member counts
CLOSE_AFTER = timedelta(days=2)  # a period's digests are kept this long after it ends


@dataclass(frozen=True)
class RollupResult:
    events: int  # access events added to the counts
    periods_closed: int  # periods whose member digests were deleted


def statistics_key(hasher: PinHasher) -> bytes:
    """HMAC(pin key, label): a key of its own, as privacy.pseudonym_key is."""
    return hasher._digest(STATISTICS_KEY_LABEL, "")


def member_digest(key: bytes, period: str, member_ref: str) -> bytes:
    """The keyed digest a member is counted by in one period (16 bytes; never the id)."""
    return hmac.digest(key, f"{period}\n{member_ref}".encode(), "sha256")[:16]


# --- periods ------------------------------------------------------------------------------------
def day_period(day: date) -> str:
    return f"day:{day.isoformat()}"


def week_period(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"week:{year}-W{week:02d}"


def month_period(day: date) -> str:
    return f"month:{day:%Y-%m}"


def periods_of(day: date) -> tuple[str, str, str]:
    """The day, ISO week and month a local day belongs to."""
    return day_period(day), week_period(day), month_period(day)


def period_start(period: str) -> date:
    """The first local day of a period ('day:…', 'week:…', 'month:…'); ValueError otherwise."""
    kind, _, value = period.partition(":")
    if kind == "day":
        return date.fromisoformat(value)
    if kind == "week":
        year, _, week = value.partition("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    if kind == "month":
        return date.fromisoformat(f"{value}-01")
    raise ValueError(f"not a statistics period: {period!r}")


def period_end(period: str) -> date:
    """The first local day after a period."""
    start = period_start(period)
    if period.startswith("day:"):
        return start + timedelta(days=1)
    if period.startswith("week:"):
        return start + timedelta(days=7)
    return next_month(start)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


# --- the roll-up --------------------------------------------------------------------------------
def roll_up(runtime: Runtime, now: datetime | None = None) -> RollupResult:
    """Add every access event not yet rolled up to the counts, BATCH ids per transaction, then
    close the periods that are over. Safe to run again and from two processes at once."""
    now = runtime.clock() if now is None else now
    key = statistics_key(runtime.hasher)
    events = 0
    with closing(runtime.connection()) as conn:
        store = StatisticsStore(conn)
        more = True
        while more:
            with transaction(conn):  # the cursor is read under the write lock
                added, more = _one_batch(store, key, now)
            events += added
        with transaction(conn):
            closed = _close_periods(store, now)
    return RollupResult(events, closed)


def rollup_statistics(runtime: Runtime, clock: Clock) -> None:
    """The door process's call before each purge: logged, never raised (a failed roll-up must
    not keep the retention job from deleting what it must)."""
    try:
        done = roll_up(runtime, clock())
    except Exception:
        log.exception(
            "statistics: roll-up failed; the events not rolled up are purged "
            "uncounted if past their retention"
        )
        return
    log.info(
        "statistics: %d access event(s) rolled up, %d period(s) closed", done.events, done.periods_closed
    )


def _one_batch(store: StatisticsStore, key: bytes, now: datetime) -> tuple[int, bool]:
    """One window of event ids into the counts; (events added, whether more ids follow)."""
    cursor = store.cursor()
    newest = store.newest_event_id()
    # Event ids are reused only after every event was purged (SQLite gives max(id) + 1):
    # then each event there now is new.
    start = cursor.last_event_id if cursor.last_event_id <= newest else 0
    if start >= newest:
        return 0, False
    end = min(start + BATCH, newest)
    rows = store.events_after(start, ROLLED_TYPES, end - start)
    hours: Counter[HourKey] = Counter()
    uniques: Counter[tuple[str, str]] = Counter()
    for row in rows:
        at = from_ms(row.ts_ms)
        local = to_local(at)
        granted = row.type == EventType.ACCESS_GRANTED.value
        mode = detail_field(row.detail, MODE_FIELD) or UNKNOWN_MODE
        outcome = GRANTED if granted else REFUSED
        hours[
            HourKey(
                hour_key_ms(at),
                local.date().isoformat(),
                local.hour,
                row.door,
                mode,
                outcome,
                row.reason or outcome,
            )
        ] += 1
        if not granted or not row.member_ref:
            continue
        scopes = (ALL_MEMBERS, OPENPLUS_MEMBERS) if mode == DoorMode.OPENPLUS.value else (ALL_MEMBERS,)
        for period in periods_of(local.date()):
            if cursor.closed_through is not None and period_end(period) <= cursor.closed_through:
                continue  # late: its digests are gone, so it could be counted twice
            digest = member_digest(key, period, row.member_ref)
            for scope in scopes:
                if store.remember(period, scope, digest):
                    uniques[(period, scope)] += 1
    store.add_hours(hours)
    store.add_uniques(uniques)
    store.move_cursor(end, now)
    return len(rows), end < newest


def _close_periods(store: StatisticsStore, now: datetime) -> int:
    """Delete the digests of periods that ended CLOSE_AFTER ago; how many periods."""
    through = local_date(now - CLOSE_AFTER)
    before = store.cursor().closed_through
    if before is not None and before > through:
        through = before  # the clock went back: what is closed stays closed
    closed = [period for period in store.open_periods() if period_end(period) <= through]
    store.forget_digests(closed)
    store.mark_closed(through)
    return len(closed)


def add_people_counts(runtime: Runtime, door: str, at: datetime, people_in: int, people_out: int) -> None:
    """Crossings at `door` in the local hour of `at`, added at once (the door process adds its
    counters' crossings in batches: controller.services.statistics_people.PeopleTally); the
    Statistics page shows people in/out and occupancy over the day from them."""
    if people_in < 0 or people_out < 0:
        raise ValueError(f"people counts cannot be negative: in {people_in}, out {people_out}")
    local = to_local(at)
    with closing(runtime.connection()) as conn, transaction(conn):
        StatisticsStore(conn).add_people(
            hour_key_ms(at), local.date().isoformat(), local.hour, door, people_in, people_out
        )
