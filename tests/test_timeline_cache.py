"""The day plans a mode lookup walks are worked out once per schedule and freed with it.

controller.domain.timeline keeps them by schedule identity (a Schedule is unhashable, so
no WeakKeyDictionary); these tests pin both halves: reuse, and no leak or stale reuse
once the schedule object is gone.
"""

from __future__ import annotations

import gc
from pathlib import Path

from controller.domain import timeline
from controller.domain.schedule import load_schedule_file

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
