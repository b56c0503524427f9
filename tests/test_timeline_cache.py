"""The day plans a mode lookup walks are worked out once per schedule and freed with it.

controller.domain.timeline keeps them by schedule identity (a Schedule is unhashable, so
no WeakKeyDictionary); these tests pin both halves: reuse, and no leak or stale reuse
once the schedule object is gone.
"""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from controller.domain import timeline
from controller.domain.modes import DoorMode
from controller.domain.schedule import WEEKDAYS, load_schedule_file, parse_schedule

BEILEN = Path(__file__).resolve().parent.parent / "config" / "beilen-schedule.json"


def test_day_plans_are_worked_out_once_per_schedule_object() -> None:
    schedule = load_schedule_file(BEILEN)
    same_document = load_schedule_file(BEILEN)

    first = timeline._day_plans(schedule)

    assert timeline._day_plans(schedule) is first
    assert timeline._day_plans(same_document) is not first


def test_day_plans_are_dropped_when_their_schedule_is_collected() -> None:
    schedule = load_schedule_file(BEILEN)
    key = id(schedule)
    timeline._day_plans(schedule)
    assert key in timeline._plans_by_schedule

    del schedule
    gc.collect()

    assert key not in timeline._plans_by_schedule


def _week(kind: str) -> dict[str, list[dict[str, str]]]:
    """Every weekday `kind` all day, as 48 half-hour windows (the door bench's upload)."""
    edges = [f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(0, 24 * 60, 30)] + ["24:00"]
    return {day: [{"start": a, "end": b, "kind": kind} for a, b in pairwise(edges)] for day in WEEKDAYS}


MOMENTS = [
    datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # the March DST change
    datetime(2026, 10, 25, 0, 59, tzinfo=UTC),  # inside October's repeated hour
    datetime(2027, 4, 27, 12, 0, tzinfo=UTC),  # Koningsdag
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_mode_that_never_ends_has_no_edges_and_is_found_without_a_walk(moment: datetime) -> None:
    """Open+ around the clock: neither edge lies within the horizon. The lookup answers from
    the plans alone (a walk of 400 days each way, per lookup, cost the door 70 ms a save)."""
    schedule = parse_schedule({"weekly": _week("openplus")})
    plans = timeline._day_plans(schedule)
    assert plans.uniform_mode is DoorMode.OPENPLUS

    now = timeline.mode_at(schedule, moment)

    assert (now.mode, now.since, now.until) == (DoorMode.OPENPLUS, None, None)
    assert timeline.next_change(schedule, moment) is None
    assert timeline.mode_only_at(schedule, moment) is DoorMode.OPENPLUS
    assert plans._by_day.keys() <= {moment.date(), moment.date() - timedelta(days=1)}  # no walk


def test_a_closed_holiday_or_an_exception_makes_the_days_differ() -> None:
    """The shortcut holds only when every day the schedule can have is the one mode."""
    holiday = parse_schedule({"weekly": _week("openplus"), "holidays_closed": ["koningsdag"]})
    special = parse_schedule(
        {"weekly": _week("openplus"), "exceptions": [{"date": "2027-04-20", "kind": "closure"}]}
    )
    assert timeline._day_plans(holiday).uniform_mode is None
    assert timeline._day_plans(special).uniform_mode is None

    before = datetime(2027, 4, 1, 12, 0, tzinfo=UTC)
    assert timeline.next_change(holiday, before) == timeline.ModeChange(
        datetime(2027, 4, 26, 22, 0, tzinfo=UTC), DoorMode.CLOSURE
    )
    assert timeline.next_change(special, before) == timeline.ModeChange(
        datetime(2027, 4, 19, 22, 0, tzinfo=UTC), DoorMode.CLOSURE
    )
    on_the_day = datetime(2027, 4, 27, 12, 0, tzinfo=UTC)
    assert timeline.mode_only_at(holiday, on_the_day) is DoorMode.CLOSURE
    assert timeline.mode_at(holiday, on_the_day).until == datetime(2027, 4, 27, 22, 0, tzinfo=UTC)


def test_mode_only_at_agrees_with_mode_at_every_hour_of_a_real_week() -> None:
    schedule = load_schedule_file(BEILEN)
    start = datetime(2026, 10, 22, 0, 0, tzinfo=UTC)  # through the October DST night
    for hours in range(0, 7 * 24):
        moment = start + timedelta(hours=hours, minutes=17)
        assert timeline.mode_only_at(schedule, moment) is timeline.mode_at(schedule, moment).mode, moment


def test_day_plans_remember_a_bounded_number_of_dates() -> None:
    schedule = load_schedule_file(BEILEN)
    plans = timeline._day_plans(schedule)
    first = date(2026, 1, 1)
    for offset in range(timeline._DAYS_REMEMBERED + 10):
        plans.on(first + timedelta(days=offset))
    assert len(plans._by_day) <= timeline._DAYS_REMEMBERED
    assert plans.on(first) == plans._plan_on(first)
