"""Schedule model, validation and the mode at a moment, including both 2026 DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controller.domain.clock import BRANCH_TZ
from controller.domain.holidays import holiday_on
from controller.domain.modes import DoorMode
from controller.domain.problems import Place
from controller.domain.schedule import (
    WEEKDAYS,
    Schedule,
    ScheduleInvalid,
    Window,
    day_problems,
    load_schedule_file,
    minutes_of,
    parse_schedule,
    schedule_problems,
)
from controller.domain.timeline import (
    CauseKind,
    ModeCause,
    ModeChange,
    changes_between,
    mode_at,
    next_change,
    wall_to_utc,
)

BEILEN = Path(__file__).resolve().parent.parent / "config" / "beilen-schedule.json"
HOUR = timedelta(hours=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(*parts: int, fold: int = 0) -> datetime:
    """A Europe/Amsterdam wall-clock time as UTC (only for unambiguous, existing times)."""
    return datetime(*parts, tzinfo=BRANCH_TZ, fold=fold).astimezone(UTC)


def window(start: str, end: str, kind: str = "openplus") -> dict[str, str]:
    return {"start": start, "end": end, "kind": kind}


def every_day(*windows: dict[str, str], **extra: Any) -> Schedule:
    return parse_schedule({"weekly": {day: list(windows) for day in WEEKDAYS}, **extra})


def one_date(day: str, *windows: dict[str, str]) -> Schedule:
    """Only `day` has (special) hours; every other day is closed."""
    return parse_schedule({"exceptions": [{"date": day, "kind": "special_hours", "windows": list(windows)}]})


def seconds_in_mode(schedule: Schedule, mode: DoorMode, start: datetime, end: datetime) -> float:
    """Real seconds spent in `mode` within [start, end), walking the change list."""
    total, at, current = 0.0, start, mode_at(schedule, start).mode
    for change in changes_between(schedule, start, end) + [ModeChange(end, DoorMode.CLOSED)]:
        if current is mode:
            total += (min(change.at, end) - at).total_seconds()
        at, current = change.at, change.mode
    return total


# ---------------------------------------------------------------- example and model


def test_beilen_example_has_78_openplus_hours_a_week() -> None:
    schedule = load_schedule_file(BEILEN)
    minutes = {"staffed": 0, "openplus": 0}
    for day in WEEKDAYS:
        windows = getattr(schedule.weekly, day)
        for item in windows:
            minutes[item.kind] += item.end_minute - item.start_minute
        assert (windows[0].start, windows[-1].end) == ("07:00", "22:00"), day
    assert minutes == {"openplus": 78 * 60, "staffed": 27 * 60}


def test_beilen_week_in_real_time_matches_the_pattern() -> None:
    """An ordinary week (no DST change, no holiday): 78 h Open+, 27 h staffed, 63 h closed."""
    schedule = load_schedule_file(BEILEN)
    monday, next_monday = local(2026, 6, 1, 0, 0), local(2026, 6, 8, 0, 0)
    assert seconds_in_mode(schedule, DoorMode.OPENPLUS, monday, next_monday) == 78 * 3600
    assert seconds_in_mode(schedule, DoorMode.STAFFED, monday, next_monday) == 27 * 3600
    assert seconds_in_mode(schedule, DoorMode.CLOSED, monday, next_monday) == 63 * 3600


def test_json_round_trip_and_schema_documents_fields() -> None:
    schedule = load_schedule_file(BEILEN)
    assert parse_schedule(schedule.model_dump_json()) == schedule
    schema = Schedule.model_json_schema()
    assert schema["additionalProperties"] is False
    window_schema = schema["$defs"]["Window"]
    assert window_schema["additionalProperties"] is False
    assert all(field.get("description") for field in window_schema["properties"].values())


def test_holidays_all_expands_to_every_key() -> None:
    schedule = parse_schedule({"holidays_closed": "all"})
    assert "koningsdag" in schedule.holidays_closed and len(schedule.holidays_closed) == 11


# ---------------------------------------------------------------- validation


def test_overlap_is_refused_naming_both_windows() -> None:
    data = {"weekly": {"monday": [window("09:00", "13:00", "staffed"), window("12:00", "14:00", "openplus")]}}
    with pytest.raises(ScheduleInvalid) as refused:
        parse_schedule(data)
    assert refused.value.problems == ["monday: 12:00-14:00 openplus overlaps 09:00-13:00 staffed"]
    with pytest.raises(ValidationError, match="12:00-14:00 openplus overlaps 09:00-13:00"):
        Schedule.model_validate(data)


def test_all_semantic_problems_are_listed_together() -> None:
    problems = schedule_problems(
        {
            "weekly": {
                "tuesday": [
                    window("14:00", "12:00"),
                    window("08:00", "10:00"),
                    window("09:30", "11:00", "staffed"),
                ]
            },
            "exceptions": [
                {"date": "2026-12-24", "kind": "closure", "windows": [window("07:00", "12:00")]},
                {"date": "2026-12-24", "kind": "special_hours", "windows": []},
            ],
        }
    )
    assert problems == [
        "tuesday: 14:00-12:00 openplus: start is not before end",
        "tuesday: 09:30-11:00 staffed overlaps 08:00-10:00 openplus",
        "2026-12-24: a closure has no windows (use special_hours)",
        "2026-12-24: more than one exception for this date",
    ]


def test_structural_problems_name_their_place() -> None:
    problems = schedule_problems(
        {
            "weekly": {
                "monday": [
                    window("7:00", "22:00"),
                    window("24:00", "24:00"),
                    window("10:00", "24:01", "cleaning"),
                ]
            },
            "holidays_closed": ["sinterklaas"],
            "branch_colour": "blue",
        }
    )
    assert problems[0] == (
        "weekly.monday.0.start: bad time '7:00': use HH:MM from 00:00 to 23:59, or 24:00 as an end"
    )
    assert "weekly.monday.1.start: 24:00 can only be an end time" in problems
    assert any(p.startswith("weekly.monday.2.end: bad time '24:01'") for p in problems)
    assert any(p.startswith("weekly.monday.2.kind:") for p in problems)
    assert any(p.startswith("holidays_closed.0:") for p in problems)
    assert "branch_colour: Extra inputs are not permitted" in problems


@pytest.mark.parametrize("text", ["7:00", "07:00\n", "07:60", "-1:00", "07.00", "٠٧:٠٠", "24:30"])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad time"):
        minutes_of(text)


def test_good_times() -> None:
    assert [minutes_of(text) for text in ("00:00", "07:30", "23:59", "24:00")] == [0, 450, 1439, 1440]


def test_valid_schedule_has_no_problems_and_json_text_is_accepted() -> None:
    assert schedule_problems(BEILEN.read_text()) == []
    assert (
        schedule_problems(
            {"weekly": {"monday": [window("07:00", "12:00", "staffed"), window("12:00", "24:00")]}}
        )
        == []
    )


# ---------------------------------------------------------------- mode at a moment


def test_mode_mid_window_with_edges_and_cause() -> None:
    schedule = load_schedule_file(BEILEN)
    now = mode_at(schedule, local(2026, 6, 3, 12, 0))  # a Wednesday, staffed 10:00-17:00
    assert now.mode is DoorMode.STAFFED
    assert (now.since, now.until, now.cause) == (
        local(2026, 6, 3, 10, 0),
        local(2026, 6, 3, 17, 0),
        ModeCause(CauseKind.WEEKLY),
    )
    assert now.since.tzinfo is UTC


def test_adjacent_windows_switch_once_without_closed_flicker() -> None:
    schedule = every_day(window("07:00", "12:00", "staffed"), window("12:00", "22:00"))
    changes = changes_between(schedule, local(2026, 6, 2, 0, 0), local(2026, 6, 3, 0, 0))
    assert changes == [
        (local(2026, 6, 2, 7, 0), DoorMode.STAFFED),
        (local(2026, 6, 2, 12, 0), DoorMode.OPENPLUS),
        (local(2026, 6, 2, 22, 0), DoorMode.CLOSED),
    ]
    assert mode_at(schedule, local(2026, 6, 2, 11, 59)).until == local(2026, 6, 2, 12, 0)


def test_edge_moment_belongs_to_the_new_mode() -> None:
    schedule = every_day(window("07:00", "22:00"))
    assert mode_at(schedule, local(2026, 6, 2, 7, 0)).mode is DoorMode.OPENPLUS
    assert mode_at(schedule, local(2026, 6, 2, 22, 0)).mode is DoorMode.CLOSED


def test_next_change_across_midnight() -> None:
    schedule = load_schedule_file(BEILEN)
    late_monday = local(2026, 6, 1, 23, 30)
    assert next_change(schedule, late_monday) == (local(2026, 6, 2, 7, 0), DoorMode.OPENPLUS)
    now = mode_at(schedule, late_monday)
    assert (now.mode, now.since, now.until) == (
        DoorMode.CLOSED,
        local(2026, 6, 1, 22, 0),
        local(2026, 6, 2, 7, 0),
    )


def test_next_change_across_a_week() -> None:
    schedule = parse_schedule({"weekly": {"monday": [window("09:00", "12:00", "staffed")]}})
    tuesday = local(2026, 6, 2, 10, 0)
    assert next_change(schedule, tuesday) == (local(2026, 6, 8, 9, 0), DoorMode.STAFFED)
    assert mode_at(schedule, tuesday).since == local(2026, 6, 1, 12, 0)


def test_windows_meeting_at_midnight_are_one_stretch() -> None:
    schedule = parse_schedule(
        {"weekly": {"monday": [window("22:00", "24:00")], "tuesday": [window("00:00", "02:00")]}}
    )
    now = mode_at(schedule, local(2026, 6, 1, 23, 0))
    assert (now.since, now.until) == (local(2026, 6, 1, 22, 0), local(2026, 6, 2, 2, 0))
    assert changes_between(schedule, local(2026, 6, 1, 12, 0), local(2026, 6, 2, 12, 0)) == [
        (local(2026, 6, 1, 22, 0), DoorMode.OPENPLUS),
        (local(2026, 6, 2, 2, 0), DoorMode.CLOSED),
    ]


def test_changes_between_is_start_exclusive_end_inclusive() -> None:
    schedule = every_day(window("07:00", "22:00"))
    seven, ten_pm = local(2026, 6, 2, 7, 0), local(2026, 6, 2, 22, 0)
    assert changes_between(schedule, seven, ten_pm) == [(ten_pm, DoorMode.CLOSED)]
    first = next_change(schedule, local(2026, 6, 2, 3, 0))
    assert changes_between(schedule, local(2026, 6, 2, 3, 0), first.at) == [first]


def test_fourteen_day_view_lists_every_edge() -> None:
    schedule = load_schedule_file(BEILEN)
    start = local(2026, 6, 1, 0, 0)
    changes = changes_between(schedule, start, start + timedelta(days=14))
    # Mon-Sat: Open+, staffed, Open+, closed; Sunday: Open+, closed. No holiday in these days.
    assert len(changes) == 12 * 4 + 2 * 2
    assert all(a.at < b.at and a.mode != b.mode for a, b in pairwise(changes))


def test_empty_schedule_is_closed_with_no_edges_in_sight() -> None:
    schedule = Schedule()
    now = mode_at(schedule, utc(2026, 6, 1, 12, 0))
    assert (now.mode, now.since, now.until) == (DoorMode.CLOSED, None, None)
    assert next_change(schedule, utc(2026, 6, 1, 12, 0)) is None


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        mode_at(Schedule(), datetime(2026, 6, 1, 12, 0))


# ---------------------------------------------------------------- holidays and exceptions


def test_switched_on_holiday_closes_all_day() -> None:
    schedule = load_schedule_file(BEILEN)  # koningsdag switched on
    now = mode_at(schedule, local(2025, 4, 26, 12, 0))  # Koningsdag 2025 is Saturday 26 April
    assert now.mode is DoorMode.CLOSURE and now.cause.kind is CauseKind.HOLIDAY
    assert now.cause.holiday is not None and now.cause.holiday.key == "koningsdag"
    assert str(now.cause) == "holiday: Koningsdag"  # the API's and the log's English
    assert (now.since, now.until) == (local(2025, 4, 26, 0, 0), local(2025, 4, 27, 0, 0))
    assert mode_at(schedule, local(2025, 4, 27, 12, 0)).mode is DoorMode.OPENPLUS


def test_holiday_not_switched_on_keeps_the_weekly_pattern() -> None:
    schedule = load_schedule_file(BEILEN)  # bevrijdingsdag is not switched on
    now = mode_at(schedule, local(2026, 5, 5, 12, 0))  # a Tuesday: Open+ 07:00-13:00
    assert (now.mode, now.cause) == (DoorMode.OPENPLUS, ModeCause(CauseKind.WEEKLY))


def test_exception_on_a_holiday_wins() -> None:
    schedule = every_day(
        window("07:00", "22:00"),
        holidays_closed="all",
        exceptions=[
            {
                "date": "2026-04-27",
                "kind": "special_hours",
                "note": "Koningsmarkt",
                "windows": [window("10:00", "16:00", "staffed")],
            }
        ],
    )
    now = mode_at(schedule, local(2026, 4, 27, 12, 0))
    assert (now.mode, now.cause) == (
        DoorMode.STAFFED,
        ModeCause(CauseKind.SPECIAL_HOURS, note="Koningsmarkt"),
    )
    assert mode_at(schedule, local(2026, 4, 27, 8, 0)).mode is DoorMode.CLOSED
    easter = mode_at(schedule, local(2026, 4, 5, 12, 0))
    assert (easter.mode, easter.cause.kind) == (DoorMode.CLOSURE, CauseKind.HOLIDAY)
    assert easter.cause.holiday is not None and easter.cause.holiday.key == "eerste_paasdag"


def test_announced_closure() -> None:
    schedule = load_schedule_file(BEILEN)
    now = mode_at(schedule, local(2027, 1, 18, 9, 0))
    assert (now.mode, now.cause) == (DoorMode.CLOSURE, ModeCause(CauseKind.CLOSURE, note="Verbouwing"))
    assert now.until == local(2027, 1, 19, 0, 0)


def test_a_cause_in_english_is_the_sentence_the_api_and_the_log_always_showed() -> None:
    koningsdag = holiday_on(date(2026, 4, 27), {"koningsdag"})
    assert [
        str(cause)
        for cause in (
            ModeCause(CauseKind.WEEKLY),
            ModeCause(CauseKind.HOLIDAY, holiday=koningsdag),
            ModeCause(CauseKind.CLOSURE, note="Verbouwing"),
            ModeCause(CauseKind.CLOSURE),
            ModeCause(CauseKind.SPECIAL_HOURS, note="Koningsmarkt"),
            ModeCause(CauseKind.SPECIAL_HOURS),
        )
    ] == [
        "weekly",
        "holiday: Koningsdag",
        "closure: Verbouwing",
        "closure",
        "special hours: Koningsmarkt",
        "special hours",
    ]


# ---------------------------------------------------------------- daylight saving time


def test_wall_clock_mapping_never_runs_backwards_on_dst_days() -> None:
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        moments = [wall_to_utc(day, minute) for minute in range(0, 24 * 60 + 1)]
        assert moments == sorted(moments)
    assert wall_to_utc(date(2026, 3, 29), 150) == utc(2026, 3, 29, 1, 0)  # 02:30 -> the jump
    assert wall_to_utc(date(2026, 10, 25), 150) == utc(2026, 10, 25, 0, 30)  # first 02:30


def test_march_window_across_the_skipped_hour_lasts_two_real_hours() -> None:
    schedule = one_date("2026-03-29", window("01:00", "04:00"))
    now = mode_at(schedule, utc(2026, 3, 29, 1, 30))
    assert (now.since, now.until) == (utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0))
    assert now.until - now.since == 2 * HOUR


def test_october_window_across_the_repeated_hour_lasts_four_real_hours() -> None:
    schedule = one_date("2026-10-25", window("01:00", "04:00"))
    now = mode_at(schedule, utc(2026, 10, 25, 1, 30))  # 02:30 CET, the second pass
    assert now.mode is DoorMode.OPENPLUS
    assert (now.since, now.until) == (utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0))
    assert now.until - now.since == 4 * HOUR


def test_october_window_starting_in_the_repeated_hour_starts_on_the_first_pass() -> None:
    schedule = one_date("2026-10-25", window("02:30", "03:30"))
    day = (local(2026, 10, 25, 0, 0), local(2026, 10, 26, 0, 0))
    assert changes_between(schedule, *day) == [
        (utc(2026, 10, 25, 0, 30), DoorMode.OPENPLUS),  # 02:30 CEST
        (utc(2026, 10, 25, 2, 30), DoorMode.CLOSED),  # 03:30 CET
    ]


def test_october_window_inside_the_repeated_hour_is_not_doubled() -> None:
    schedule = one_date("2026-10-25", window("02:00", "02:30", "staffed"))
    day = (local(2026, 10, 25, 0, 0), local(2026, 10, 26, 0, 0))
    assert changes_between(schedule, *day) == [
        (utc(2026, 10, 25, 0, 0), DoorMode.STAFFED),
        (utc(2026, 10, 25, 0, 30), DoorMode.CLOSED),
    ]
    assert mode_at(schedule, utc(2026, 10, 25, 1, 15)).mode is DoorMode.CLOSED  # 02:15 CET


def test_march_window_starting_in_the_skipped_hour_starts_at_the_jump() -> None:
    schedule = one_date(
        "2026-03-29", window("01:00", "02:30", "staffed"), window("02:30", "05:00", "openplus")
    )
    day = (local(2026, 3, 29, 0, 0), local(2026, 3, 30, 0, 0))
    assert changes_between(schedule, *day) == [
        (utc(2026, 3, 29, 0, 0), DoorMode.STAFFED),  # 01:00 CET
        (utc(2026, 3, 29, 1, 0), DoorMode.OPENPLUS),  # the jump 02:00 CET -> 03:00 CEST
        (utc(2026, 3, 29, 3, 0), DoorMode.CLOSED),  # 05:00 CEST
    ]


def test_beilen_dst_days_have_the_right_real_hours() -> None:
    """07:00-22:00 never touches 02:00-03:00; the days are 23 h and 25 h long, all of it closed."""
    schedule = load_schedule_file(BEILEN)
    for day in (date(2026, 3, 29), date(2026, 10, 25)):  # both Sundays: Open+ 07:00-22:00
        start = wall_to_utc(day, 0)
        end = wall_to_utc(day + timedelta(days=1), 0)
        assert seconds_in_mode(schedule, DoorMode.OPENPLUS, start, end) == 15 * 3600
        closed = seconds_in_mode(schedule, DoorMode.CLOSED, start, end)
        assert closed == (end - start).total_seconds() - 15 * 3600
    assert wall_to_utc(date(2026, 3, 30), 0) - wall_to_utc(date(2026, 3, 29), 0) == 23 * HOUR


def test_back_to_back_windows_give_the_same_modes_as_one_long_window():
    """Joined before any time is worked out (the door's recompute cost), never changing a mode."""

    def halves(minutes: range) -> list[dict]:
        return [
            {
                "start": f"{m // 60:02d}:{m % 60:02d}",
                "end": "24:00" if m + 30 == 1440 else f"{(m + 30) // 60:02d}:{(m + 30) % 60:02d}",
                "kind": "openplus",
            }
            for m in minutes
        ]

    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    sliced = parse_schedule({"weekly": {day: halves(range(420, 1320, 30)) for day in days}})
    whole = parse_schedule(
        {"weekly": {day: [{"start": "07:00", "end": "22:00", "kind": "openplus"}] for day in days}}
    )
    for moment in (
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # the March DST day
        datetime(2026, 10, 25, 20, 59, tzinfo=UTC),  # the October one
        datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    ):
        assert mode_at(sliced, moment) == mode_at(whole, moment)
        assert next_change(sliced, moment) == next_change(whole, moment)


def test_whole_days_of_one_mode_give_the_same_edges_as_walking_every_change() -> None:
    """mode_at skips whole days of the current mode without time-zone arithmetic; its
    since/until must still be the changes a plain walk over every piece finds, across both
    DST changes, a switched-on holiday and an announced closure."""
    schedule = parse_schedule(
        {
            "weekly": {
                "monday": [window("09:00", "17:00", "staffed")],
                "thursday": [window("00:00", "24:00")],
                "friday": [window("00:00", "24:00")],
                "saturday": [window("00:00", "24:00")],
                "sunday": [window("00:00", "24:00")],
            },
            "exceptions": [
                {"date": "2026-10-24", "kind": "closure", "note": "verbouwing"},
                {"date": "2026-10-27", "kind": "closure"},
            ],
            "holidays_closed": ["koningsdag", "eerste_kerstdag"],
        }
    )
    start = local(2026, 3, 1, 12)
    changes = changes_between(schedule, start - 60 * 24 * HOUR, start + 400 * 24 * HOUR)
    assert len(changes) > 100
    for hours in range(0, 300 * 24, 29):  # every 29 hours: all times of day, both DST days
        moment = start + hours * HOUR
        before = [change.at for change in changes if change.at <= moment]
        after = [change for change in changes if change.at > moment]
        now = mode_at(schedule, moment)
        assert now.since == before[-1], moment
        assert now.until == after[0].at, moment
        assert next_change(schedule, moment) == after[0], moment


def test_overlaps_are_found_by_one_sweep_each_window_named_once() -> None:
    """96 copies of one window: the pairwise check built 4,560 sentences (3,000 windows took
    80 s and gigabytes); the sweep names each later window once, with the one it overlaps."""
    same = [Window(start="09:00", end="17:00", kind="openplus") for _ in range(96)]
    monday = Place(("weekly", "monday"), name="monday")
    problems = day_problems(monday, same)
    assert len(problems) == 95
    assert set(problems) == {"monday: 09:00-17:00 openplus overlaps 09:00-17:00 openplus"}
    staggered = [
        Window(start="09:00", end="12:00", kind="staffed"),
        Window(start="08:00", end="18:00", kind="openplus"),
        Window(start="13:00", end="14:00", kind="staffed"),
    ]
    assert day_problems(monday, staggered) == [
        "monday: 09:00-12:00 staffed overlaps 08:00-18:00 openplus",
        "monday: 13:00-14:00 staffed overlaps 08:00-18:00 openplus",
    ]


def test_a_refusal_names_the_first_fifty_problems_and_counts_the_rest() -> None:
    problems = schedule_problems({"weekly": {day: [window("09:00", "17:00")] * 20 for day in WEEKDAYS}})
    assert len(problems) == 51
    assert problems[-1] == f"and {7 * 19 - 50} more problems"


def test_windows_per_day_and_exceptions_are_bounded() -> None:
    halves = [
        window(f"{m // 60:02d}:{m % 60:02d}", f"{(m + 10) // 60:02d}:{(m + 10) % 60:02d}")
        for m in range(0, 97 * 10, 10)
    ]
    problems = schedule_problems({"weekly": {"monday": halves}})
    assert problems == ["weekly.monday: List should have at most 96 items after validation, not 97"]
    exceptions = [
        {"date": (date(2027, 1, 1) + timedelta(days=n)).isoformat(), "kind": "closure"} for n in range(801)
    ]
    assert schedule_problems({"exceptions": exceptions}) == [
        "exceptions: List should have at most 800 items after validation, not 801"
    ]
    assert schedule_problems({"exceptions": exceptions[:800]}) == []
