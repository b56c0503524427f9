"""A branch's opening schedule: its models and their validation.

The models double as the admin API's request/response schemas. All window times are
Europe/Amsterdam wall-clock times. What mode a schedule implies at a moment (local time to
UTC, the walk over days) lives in controller.domain.timeline, so that this module stays the
document and its rules.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controller.domain.holidays import HOLIDAY_KEYS, HolidayKey
from controller.domain.modes import DoorMode
from controller.domain.problems import Place, Problem, ProblemError, first_problems

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
# Bounds on what one schedule document may carry: a window every quarter hour, a little over
# two years of dated exceptions.
MAX_WINDOWS_PER_DAY = 96
MAX_EXCEPTIONS = 800

_TIME_PATTERN = re.compile(r"([0-9]{2}):([0-9]{2})")
_STRICT = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- model


class Window(BaseModel):
    """A stretch of one day with one kind of opening; outside all windows the branch is closed."""

    model_config = _STRICT

    start: str = Field(
        description='Local (Europe/Amsterdam) start time, "HH:MM", 00:00-23:59.', examples=["07:00"]
    )
    end: str = Field(
        description='Local end time, "HH:MM"; "24:00" means the end of the day. '
        "Must be after start; windows never cross midnight.",
        examples=["22:00"],
    )
    kind: Literal["staffed", "openplus"] = Field(
        description="staffed: staff present; openplus: unstaffed, card + PIN."
    )

    @field_validator("start", "end")
    @classmethod
    def _well_formed_time(cls, value: str) -> str:
        minutes_of(value)  # raises ValueError with a readable message
        return value

    @field_validator("start")
    @classmethod
    def _start_not_end_of_day(cls, value: str) -> str:
        if minutes_of(value) == MINUTES_PER_DAY:
            raise ProblemError(Problem("schedule.midnight_start"))
        return value

    @property
    def mode(self) -> DoorMode:
        return DoorMode(self.kind)

    @property
    def start_minute(self) -> int:
        return minutes_of(self.start)

    @property
    def end_minute(self) -> int:
        return minutes_of(self.end)


class WeeklyPattern(BaseModel):
    """The ordinary week: per weekday the windows in which the branch is open."""

    model_config = _STRICT

    monday: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY, description="Windows on Mondays."
    )
    tuesday: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY, description="Windows on Tuesdays."
    )
    wednesday: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY, description="Windows on Wednesdays."
    )
    thursday: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY, description="Windows on Thursdays."
    )
    friday: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY, description="Windows on Fridays."
    )
    saturday: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY, description="Windows on Saturdays."
    )
    sunday: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY, description="Windows on Sundays."
    )

    def windows_on(self, day: date) -> list[Window]:
        return getattr(self, WEEKDAYS[day.weekday()])


class DateException(BaseModel):
    """One date that departs from the weekly pattern (and overrides a holiday on that date)."""

    model_config = _STRICT

    date: dt.date = Field(description="The local calendar date, YYYY-MM-DD.")
    kind: Literal["closure", "special_hours"] = Field(
        description="closure: closed all day; special_hours: `windows` replace the weekly pattern."
    )
    windows: list[Window] = Field(
        default_factory=list,
        max_length=MAX_WINDOWS_PER_DAY,
        description="For special_hours: that day's windows (empty = closed all day, as CLOSED). "
        "Must be empty for a closure.",
    )
    note: str = Field(
        default="", max_length=200, description='Why, shown to staff and members, e.g. "Verbouwing".'
    )


class Schedule(BaseModel):
    """Everything that decides the branch's door mode: weekly pattern, exceptions, holidays."""

    model_config = _STRICT

    weekly: WeeklyPattern = Field(default_factory=WeeklyPattern, description="The ordinary week.")
    exceptions: list[DateException] = Field(
        default_factory=list,
        max_length=MAX_EXCEPTIONS,
        description="Dated departures from the weekly pattern; one per date.",
    )
    holidays_closed: list[HolidayKey] = Field(
        default_factory=list,
        description="Keys of the Dutch public holidays on which the branch is closed all day "
        '(input may also be "all"). An exception on the same date wins over the holiday.',
    )

    @field_validator("holidays_closed", mode="before")
    @classmethod
    def _expand_all(cls, value: Any) -> Any:
        return list(HOLIDAY_KEYS) if value == "all" else value

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        problems = consistency_problems(self)
        if problems:
            raise ScheduleInvalid(problems)
        return self

    def holiday_keys(self) -> frozenset[str]:
        """The switched-on holiday keys."""
        return frozenset(self.holidays_closed)

    def exception_on(self, day: date) -> DateException | None:
        return next((exception for exception in self.exceptions if exception.date == day), None)


class ScheduleInvalid(ValueError):
    """A schedule was refused; `problems` lists every reason, one readable sentence each
    (a Problem: its place and key are values)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


# ---------------------------------------------------------------- validation


@lru_cache(maxsize=2048)  # 1,441 valid times; a refused one raises and is not kept
def minutes_of(value: str) -> int:
    """'HH:MM' -> minutes after midnight; '24:00' -> 1440. ValueError names the bad value.

    Remembered: validation sorts and sweeps every day's windows by their minutes, in the door
    process too when it reloads a saved schedule."""
    match = _TIME_PATTERN.fullmatch(value)
    hours, minutes = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59) and (hours, minutes) != (24, 0):
        raise ProblemError(Problem("schedule.bad_time", value=value))
    return hours * 60 + minutes


def day_problems(where: Place, windows: list[Window]) -> list[Problem]:
    """Empty or overlapping windows of one day, each named in the message.

    Sorted once and swept (O(n log n)): each window that overlaps an earlier-starting one is
    named once, with the earlier window reaching furthest, so a crafted day of thousands of
    windows costs milliseconds and a bounded answer, not a sentence per pair.
    """
    spans = [(window.start_minute, window.end_minute, window) for window in windows]
    problems = [
        Problem("schedule.start_not_before_end", where, start=window.start, end=window.end, kind=window.kind)
        for start, end, window in spans
        if start >= end
    ]
    # By start, then end, then given order (the index keeps two equal windows from being compared).
    proper = sorted(
        (start, end, index, window) for index, (start, end, window) in enumerate(spans) if start < end
    )
    furthest: Window | None = None
    furthest_end = -1
    for start, end, _index, window in proper:
        if furthest is not None and start < furthest_end:
            problems.append(
                Problem(
                    "schedule.overlap",
                    where,
                    start=window.start,
                    end=window.end,
                    kind=window.kind,
                    other_start=furthest.start,
                    other_end=furthest.end,
                    other_kind=furthest.kind,
                )
            )
        if furthest is None or end > furthest_end:
            furthest, furthest_end = window, end
    return problems


def consistency_problems(schedule: Schedule) -> list[Problem]:
    """Every cross-field problem in a structurally valid schedule."""
    problems: list[Problem] = []
    for weekday in WEEKDAYS:
        problems += day_problems(Place(("weekly", weekday), name=weekday), getattr(schedule.weekly, weekday))
    seen: set[date] = set()
    for index, exception in enumerate(schedule.exceptions):
        where = Place(("exceptions", index), name=exception.date.isoformat())
        if exception.date in seen:
            problems.append(Problem("schedule.two_exceptions", where))
        seen.add(exception.date)
        if exception.kind == "closure" and exception.windows:
            problems.append(Problem("schedule.closure_with_windows", where))
        problems += day_problems(where, exception.windows)
    return problems


def _describe_error(error: Mapping[str, Any]) -> list[Problem]:
    """A pydantic error as Problems placed at its loc, unpacking our own ScheduleInvalid."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ScheduleInvalid):
        return cause.problems
    where = Place(tuple(error["loc"])) if error["loc"] else None
    if isinstance(cause, ProblemError):
        return [cause.problem.at(where) if where else cause.problem]
    message = error["msg"].removeprefix("Value error, ")
    return [Problem("schedule.refused_value", where, message=message)]


def schedule_problems(data: Mapping[str, Any] | str | bytes) -> list[Problem]:
    """All problems in a schedule document (dict or JSON), [] when it is acceptable.

    Structural problems (unknown fields, bad times) come first; cross-window checks run
    once the structure is sound.
    """
    try:
        parse_schedule(data)
    except ScheduleInvalid as invalid:
        return invalid.problems
    return []


def parse_schedule(data: Mapping[str, Any] | str | bytes) -> Schedule:
    """A validated Schedule from a dict or JSON text; ScheduleInvalid holds every problem."""
    try:
        if isinstance(data, (str, bytes)):
            return Schedule.model_validate_json(data)
        return Schedule.model_validate(data)
    except ValidationError as error:
        raise ScheduleInvalid(
            first_problems([sentence for item in error.errors() for sentence in _describe_error(item)])
        ) from None


def load_schedule_file(path: Path) -> Schedule:
    """Read a schedule JSON file; ScheduleInvalid names every problem."""
    return parse_schedule(Path(path).read_text(encoding="utf-8"))


def all_day_schedule(mode: DoorMode) -> Schedule:
    """A schedule that says `mode` at every moment (closed and closure: no window at all), for
    what follows the schedule while a mode is set by hand (the building outputs)."""
    if mode.is_closed:
        return Schedule()
    day = [Window(start="00:00", end="24:00", kind="staffed" if mode == DoorMode.STAFFED else "openplus")]
    return Schedule(weekly=WeeklyPattern(**{weekday: day for weekday in WEEKDAYS}))
