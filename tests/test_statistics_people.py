"""The people counter's crossings in the statistics (issue 16): a month of generated in/out
crossings through the PeopleTally gives the Statistics report's people in/out per day and its
occupancy over the day, stamped in the branch's local hours across the DST change, kept after
the events are purged; a failed write keeps its counts; the wired branch feeds its beams in."""

from __future__ import annotations

import random
from collections import Counter
from contextlib import closing
from datetime import datetime, time, timedelta

import pytest

from controller.domain.clock import BRANCH_TZ, to_local
from controller.domain.events import Event, EventType
from controller.door.ports import ExitRequest, RemoteUnlock
from controller.services.statistics_people import PeopleTally
from controller.services.statistics_report import Grain
from controller.store.db import transaction
from controller.store.events import EventLog
from drivers.beams import PersonCrossed
from tests.conftest import NO_PAUSE
from tests.statistics_support import DST_DAY, MONTH_FIRST, MONTH_LAST
from tests.test_statistics import report, table_rows


def generated_crossings(seed: int = 16) -> list[tuple[str, datetime]]:
    """March 2026: every day, people come in between 08:00 and 20:00 local and each leaves
    30 minutes to 3 hours later (by 21:00); a seeded generator, the same month every run."""
    rng = random.Random(seed)
    crossings: list[tuple[str, datetime]] = []
    day = MONTH_FIRST
    while day <= MONTH_LAST:
        for _ in range(rng.randint(10, 60)):
            came = datetime.combine(day, time(8), tzinfo=BRANCH_TZ) + timedelta(minutes=rng.randint(0, 719))
            if day == DST_DAY and came.hour < 4:
                continue  # never happens (08:00 on), but keep the hour that does not exist out
            left = min(came + timedelta(minutes=rng.randint(30, 180)), came.replace(hour=21, minute=0))
            crossings += [("in", came), ("out", left)]
        day += timedelta(days=1)
    return crossings


def expected_occupancy(crossings: list[tuple[str, datetime]]) -> list[float | None]:
    """The average number inside at the end of each local hour, over the days with counts."""
    changes: dict[object, list[int]] = {}
    for direction, at in crossings:
        local = to_local(at)
        hours = changes.setdefault(local.date(), [0] * 24)
        hours[local.hour] += 1 if direction == "in" else -1
    sums = [0] * 24
    for hours in changes.values():
        running = 0
        for hour in range(24):
            running += hours[hour]
            sums[hour] += running
    return [total / len(changes) for total in sums]


def test_a_month_of_counts_gives_people_per_day_and_occupancy_over_the_day(runtime) -> None:
    crossings = generated_crossings()
    tally = PeopleTally(runtime, "entrance")
    for direction, at in crossings:
        tally.add(direction, at)
    assert tally.flush() == len(crossings) and tally.flush() == 0

    month = report(runtime, MONTH_FIRST, MONTH_LAST, Grain.DAY)
    came = Counter(to_local(at).date() for d, at in crossings if d == "in")
    left = Counter(to_local(at).date() for d, at in crossings if d == "out")
    assert [(b.people_in, b.people_out) for b in month.buckets] == [
        (came[b.start.date()], left[b.start.date()]) for b in month.buckets
    ]
    assert month.has_people and month.occupancy == pytest.approx(expected_occupancy(crossings))
    assert month.occupancy[7] == 0 and month.occupancy[21] == 0  # nobody before 08:00 or after 21:00
    # The month as one bucket, and the DST day's hours in local time (no 02:00, 23 rows at most).
    [whole] = report(runtime, MONTH_FIRST, MONTH_LAST, Grain.MONTH).buckets
    assert (whole.people_in, whole.people_out) == (sum(came.values()), sum(left.values()))
    dst = report(runtime, DST_DAY, DST_DAY, Grain.HOUR)
    assert sum(b.people_in for b in dst.buckets) == came[DST_DAY]


def test_the_counts_outlive_the_events(runtime, clock) -> None:
    tally = PeopleTally(runtime, "entrance")
    at = datetime(2026, 3, 10, 18, 5, tzinfo=BRANCH_TZ)
    tally.add("in", at)
    tally.add("in", at + timedelta(minutes=1))
    tally.add("out", at + timedelta(minutes=50))
    tally.flush()
    with closing(runtime.connection()) as conn, transaction(conn):
        EventLog(conn).record(Event(type=EventType.ACCESS_GRANTED, at=at, door="entrance"))
    with closing(runtime.connection()) as conn, transaction(conn):
        assert EventLog(conn).purge(older_than=datetime(2027, 1, 1, tzinfo=BRANCH_TZ)) == 1
    assert table_rows(runtime, "events") == []
    assert [row[-2:] for row in table_rows(runtime, "stats_people")] == [(2, 1)]


def test_a_failed_write_keeps_the_counts_for_the_next_flush(runtime, monkeypatch) -> None:
    tally = PeopleTally(runtime, "entrance")
    tally.add("in", datetime(2026, 3, 10, 9, 30, tzinfo=BRANCH_TZ))
    real = runtime.connection

    def locked():
        raise RuntimeError("database is locked")

    monkeypatch.setattr(runtime, "connection", locked)
    assert tally.flush() == 0 and tally.waiting == 1
    monkeypatch.setattr(runtime, "connection", real)
    assert tally.flush() == 1 and tally.waiting == 0
    assert report(runtime, MONTH_FIRST, MONTH_LAST).buckets[9].people_in == 1


def test_the_door_gets_every_input_first_and_only_crossings_are_counted(runtime) -> None:
    door: list[object] = []
    tally = PeopleTally(runtime, "entrance", door.append)
    crossing = PersonCrossed("in", datetime(2026, 3, 10, 9, 30, tzinfo=BRANCH_TZ))
    for item in (ExitRequest(), crossing, RemoteUnlock("api:anna")):
        tally.submit(item)
    assert door == [ExitRequest(), crossing, RemoteUnlock("api:anna")] and tally.flush() == 1
    with pytest.raises(ValueError, match="'in' or 'out', not 'sideways'"):
        tally.add("sideways", crossing.at)


def test_the_wired_branch_counts_its_beams_into_the_statistics(counted_branch, clock) -> None:
    sim, service = counted_branch
    service.loop.submit(RemoteUnlock("test"))
    sim.open_door()
    sim.walk("in", NO_PAUSE)
    sim.walk("in", NO_PAUSE)
    sim.walk("out", NO_PAUSE)
    sim.close_door()
    assert service.loop.wait_idle(5)
    assert service.tally.flush() == 3
    today = to_local(clock()).date()
    [bucket] = report(service.runtime, today, today).buckets
    assert (bucket.people_in, bucket.people_out) == (2, 1)
    assert service.snapshot().occupancy == 1  # type: ignore[union-attr]  # the door counted them too
