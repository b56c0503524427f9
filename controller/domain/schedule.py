"""A branch's opening schedule and the door mode it implies at any moment.

The models double as the admin API's request/response schemas. All window times are
Europe/Amsterdam wall-clock times; every computed moment is an aware UTC datetime.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controller.domain.clock import BRANCH_TZ, local_date, to_utc
from controller.domain.holidays import HOLIDAY_KEYS, HolidayKey, holiday_on
from controller.domain.modes import DoorMode
from controller.domain.problems import Problem, ProblemError, first_problems

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
# How far mode_at / next_change look for the edges of the current mode before giving up.
SEARCH_HORIZON_DAYS = 400
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

    start: str = Field(description='Local (Europe/Amsterdam) start time, "HH:MM", 00:00-23:59.',
                       examples=["07:00"])
    end: str = Field(description='Local end time, "HH:MM"; "24:00" means the end of the day. '
                                 "Must be after start; windows never cross midnight.",
                     examples=["22:00"])
    kind: Literal["staffed", "openplus"] = Field(
        description="staffed: staff present; openplus: unstaffed, card + PIN.")

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

    monday: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
                          description="Windows on Mondays.")
    tuesday: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
                          description="Windows on Tuesdays.")
    wednesday: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
                          description="Windows on Wednesdays.")
    thursday: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
                          description="Windows on Thursdays.")
    friday: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
                          description="Windows on Fridays.")
    saturday: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
                          description="Windows on Saturdays.")
    sunday: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
                          description="Windows on Sundays.")

    def windows_on(self, day: date) -> list[Window]:
        return getattr(self, WEEKDAYS[day.weekday()])


class DateException(BaseModel):
    """One date that departs from the weekly pattern (and overrides a holiday on that date)."""

    model_config = _STRICT

    date: dt.date = Field(description="The local calendar date, YYYY-MM-DD.")
    kind: Literal["closure", "special_hours"] = Field(
        description="closure: closed all day; special_hours: `windows` replace the weekly pattern.")
    windows: list[Window] = Field(
        default_factory=list, max_length=MAX_WINDOWS_PER_DAY,
        description="For special_hours: that day's windows (empty = closed all day, as CLOSED). "
                    "Must be empty for a closure.")
    note: str = Field(default="", max_length=200,
                      description='Why, shown to staff and members, e.g. "Verbouwing".')


class Schedule(BaseModel):
    """Everything that decides the branch's door mode: weekly pattern, exceptions, holidays."""

    model_config = _STRICT

    weekly: WeeklyPattern = Field(default_factory=WeeklyPattern,
                                  description="The ordinary week.")
    exceptions: list[DateException] = Field(
        default_factory=list, max_length=MAX_EXCEPTIONS,
        description="Dated departures from the weekly pattern; one per date.")
    holidays_closed: list[HolidayKey] = Field(
        default_factory=list,
        description="Keys of the Dutch public holidays on which the branch is closed all day "
                    '(input may also be "all"). An exception on the same date wins over the holiday.')

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

    @cached_property
    def day_plans(self) -> _DayPlans:
        """The day plans mode lookups walk, worked out once for this schedule."""
        return _DayPlans(self)

    def exception_on(self, day: date) -> DateException | None:
        return next((exception for exception in self.exceptions if exception.date == day), None)


class ScheduleInvalid(ValueError):
    """A schedule was refused; `problems` lists every reason, one readable sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class ModeNow(BaseModel):
    """The mode at a moment, the edges of that stretch (UTC; None = beyond the search horizon)
    and why, e.g. "weekly", "holiday: Koningsdag", "closure: Verbouwing"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: DoorMode = Field(description="The door mode.")
    since: datetime | None = Field(description="When this mode began (UTC).")
    until: datetime | None = Field(description="When it ends (UTC).")
    cause: str = Field(description="What in the schedule decides this mode right now.")


class ModeChange(NamedTuple):
    """The branch switches to `mode` at `at` (aware UTC)."""

    at: datetime
    mode: DoorMode


# ---------------------------------------------------------------- validation


def minutes_of(value: str) -> int:
    """'HH:MM' -> minutes after midnight; '24:00' -> 1440. ValueError names the bad value."""
    match = _TIME_PATTERN.fullmatch(value)
    hours, minutes = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59) and (hours, minutes) != (24, 0):
        raise ProblemError(Problem("schedule.bad_time", value=value))
    return hours * 60 + minutes


def day_problems(where: str, windows: list[Window]) -> list[Problem]:
    """Empty or overlapping windows of one day, each named in the message.

    Sorted once and swept (O(n log n)): each window that overlaps an earlier-starting one is
    named once, with the earlier window reaching furthest, so a crafted day of thousands of
    windows costs milliseconds and a bounded answer, not a sentence per pair.
    """
    problems = [Problem("schedule.start_not_before_end", where=where, start=window.start,
                        end=window.end, kind=window.kind)
                for window in windows if window.start_minute >= window.end_minute]
    proper = sorted((window for window in windows if window.start_minute < window.end_minute),
                    key=lambda window: (window.start_minute, window.end_minute))
    furthest: Window | None = None
    for window in proper:
        if furthest is not None and window.start_minute < furthest.end_minute:
            problems.append(Problem(
                "schedule.overlap", where=where, start=window.start, end=window.end,
                kind=window.kind, other_start=furthest.start, other_end=furthest.end,
                other_kind=furthest.kind))
        if furthest is None or window.end_minute > furthest.end_minute:
            furthest = window
    return problems


def consistency_problems(schedule: Schedule) -> list[Problem]:
    """Every cross-field problem in a structurally valid schedule."""
    problems: list[Problem] = []
    for weekday in WEEKDAYS:
        problems += day_problems(weekday, getattr(schedule.weekly, weekday))
    seen: set[date] = set()
    for exception in schedule.exceptions:
        where = exception.date.isoformat()
        if exception.date in seen:
            problems.append(Problem("schedule.two_exceptions", where=where))
        seen.add(exception.date)
        if exception.kind == "closure" and exception.windows:
            problems.append(Problem("schedule.closure_with_windows", where=where))
        problems += day_problems(where, exception.windows)
    return problems


def _describe_error(error: Mapping[str, Any]) -> list[str]:
    """A pydantic error as readable sentences, unpacking our own ScheduleInvalid."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ScheduleInvalid):
        return cause.problems
    where = ".".join(str(part) for part in error["loc"])
    if isinstance(cause, ProblemError):
        return [cause.problem.at(where) if where else cause.problem]
    message = error["msg"].removeprefix("Value error, ")
    return [f"{where}: {message}" if where else message]


def schedule_problems(data: Mapping[str, Any] | str | bytes) -> list[str]:
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
        raise ScheduleInvalid(first_problems(
            [sentence for item in error.errors() for sentence in _describe_error(item)])) from None


# ---------------------------------------------------------------- local time -> UTC


def wall_to_utc(day: date, minute: int) -> datetime:
    """The first UTC instant at which the branch's wall clock reads `minute` on `day`.

    Ambiguous times (October's repeated hour) take the first pass (fold=0). Times that
    do not exist (March's skipped hour) map forward to the moment the clock jumps, so
    the mapping never runs backwards and windows touching one instant stay adjacent.
    """
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=BRANCH_TZ)
    later = local.astimezone(timezone.utc)
    if later.astimezone(BRANCH_TZ).replace(tzinfo=None) == local.replace(tzinfo=None):
        return later
    # In the gap: the clock jumped past this time somewhere in [earlier, later).
    earlier = local.replace(fold=1).astimezone(timezone.utc)
    offset_after = later.astimezone(BRANCH_TZ).utcoffset()
    low, high = int(earlier.timestamp()), int(later.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        moment = datetime.fromtimestamp(middle, timezone.utc)
        if moment.astimezone(BRANCH_TZ).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, timezone.utc)


# ---------------------------------------------------------------- mode computation


@dataclass(frozen=True)
class _Piece:
    """One unmerged stretch of a single local day: [start, end) in UTC."""

    start: datetime
    end: datetime
    mode: DoorMode
    cause: str


@dataclass(frozen=True)
class _DayPlan:
    """One kind of local day: its stretches as (start, end, mode) minutes and their cause."""

    stretches: tuple[tuple[int, int, DoorMode], ...]
    cause: str

    @property
    def single_mode(self) -> DoorMode | None:
        """The mode of the whole day when it has only one (no wall_to_utc needed to know)."""
        if not self.stretches:
            return DoorMode.CLOSED
        if len(self.stretches) == 1 and self.stretches[0][:2] == (0, MINUTES_PER_DAY):
            return self.stretches[0][2]
        return None


class _DayPlans:
    """A schedule's day plans, each worked out once per schedule.

    A mode lookup walks up to SEARCH_HORIZON_DAYS days each way, in the door process, on
    every schedule change; sorting and joining the same weekday's windows again for each
    of those days cost over half a second for a week of small windows.
    """

    def __init__(self, schedule: Schedule) -> None:
        self._weekly = tuple(_DayPlan(_joined(getattr(schedule.weekly, weekday)), "weekly")
                             for weekday in WEEKDAYS)
        self._exceptions = {exception.date: self._exception_plan(exception)
                            for exception in schedule.exceptions}
        self._holiday_keys = schedule.holiday_keys()

    @staticmethod
    def _exception_plan(exception: DateException) -> _DayPlan:
        label = "closure" if exception.kind == "closure" else "special hours"
        cause = f"{label}: {exception.note}" if exception.note else label
        if exception.kind == "closure":
            return _DayPlan(((0, MINUTES_PER_DAY, DoorMode.CLOSURE),), cause)
        return _DayPlan(_joined(exception.windows), cause)

    def on(self, day: date) -> _DayPlan:
        """The plan of one local date: its exception, else its holiday, else its weekday."""
        exception = self._exceptions.get(day)
        if exception is not None:
            return exception
        holiday = holiday_on(day, self._holiday_keys)
        if holiday is not None:
            return _DayPlan(((0, MINUTES_PER_DAY, DoorMode.CLOSURE),),
                            f"holiday: {holiday.name_nl}")
        return self._weekly[day.weekday()]


def _day_pieces(plans: _DayPlans, day: date) -> list[_Piece]:
    """The day from local midnight to midnight as pieces, gaps filled with CLOSED."""
    plan = plans.on(day)
    day_start, day_end = wall_to_utc(day, 0), wall_to_utc(day, MINUTES_PER_DAY)
    pieces: list[_Piece] = []
    cursor = day_start
    for start_minute, end_minute, mode in plan.stretches:
        start = day_start if start_minute == 0 else wall_to_utc(day, start_minute)
        end = day_end if end_minute == MINUTES_PER_DAY else wall_to_utc(day, end_minute)
        if start > cursor:
            pieces.append(_Piece(cursor, start, DoorMode.CLOSED, plan.cause))
        if end > start:  # a window wholly inside March's skipped hour never happens
            pieces.append(_Piece(start, end, mode, plan.cause))
        cursor = max(cursor, end)
    if cursor < day_end:
        pieces.append(_Piece(cursor, day_end, DoorMode.CLOSED, plan.cause))
    return pieces


def _joined(windows: list[Window]) -> tuple[tuple[int, int, DoorMode], ...]:
    """Windows in order as (start, end, mode) minutes, back-to-back ones of one mode joined.

    The same day either way (one mode from the first start to the last end), but each
    boundary costs a wall_to_utc: a week of 48 half-hour Open+ windows a day made every
    mode lookup scan 400 days x 48 windows (over a second) in the door process.
    """
    joined: list[tuple[int, int, DoorMode]] = []
    for start, end, mode in sorted((window.start_minute, window.end_minute, window.mode)
                                   for window in windows):
        if joined and joined[-1][2] is mode and joined[-1][1] == start:
            joined[-1] = (joined[-1][0], end, mode)
        else:
            joined.append((start, end, mode))
    return tuple(joined)


def _pieces_forward(plans: _DayPlans, first_day: date, days: int) -> Iterator[_Piece]:
    for offset in range(days):
        yield from _day_pieces(plans, first_day + timedelta(days=offset))


def _piece_at(plans: _DayPlans, moment: datetime) -> _Piece:
    day = local_date(moment)
    return next(piece for piece in _day_pieces(plans, day) if piece.start <= moment < piece.end)


def _end_of_mode(plans: _DayPlans, piece: _Piece) -> _Piece | None:
    """The first piece after `piece` with a different mode, within the horizon.

    Whole days of the same mode are skipped on their plan alone: an Open+-around-the-clock
    week otherwise cost 400 days of time-zone arithmetic for each lookup.
    """
    first_day = local_date(piece.start)
    for offset in range(SEARCH_HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        if plans.on(day).single_mode is piece.mode:
            continue
        for later in _day_pieces(plans, day):
            if later.start >= piece.end and later.mode != piece.mode:
                return later
    return None


def _start_of_mode(plans: _DayPlans, piece: _Piece) -> datetime | None:
    """When the stretch of `piece`'s mode began, within the horizon (skipping whole days
    of that mode as _end_of_mode does)."""
    since: datetime | None = piece.start
    last_day = local_date(piece.start)
    for offset in range(SEARCH_HORIZON_DAYS):
        day = last_day - timedelta(days=offset)
        if plans.on(day).single_mode is piece.mode:
            since = None  # the stretch goes back at least to this day's midnight
            continue
        if since is None:
            since = wall_to_utc(day + timedelta(days=1), 0)
        for earlier in reversed(_day_pieces(plans, day)):
            if earlier.start >= since:
                continue
            if earlier.mode != piece.mode:
                return since
            since = earlier.start
    return None


def mode_at(schedule: Schedule, moment_utc: datetime) -> ModeNow:
    """The mode at an aware moment, with the stretch it belongs to and its cause."""
    plans = schedule.day_plans
    piece = _piece_at(plans, to_utc(moment_utc))
    following = _end_of_mode(plans, piece)
    return ModeNow(mode=piece.mode, since=_start_of_mode(plans, piece),
                   until=following.start if following else None, cause=piece.cause)


def next_change(schedule: Schedule, moment_utc: datetime) -> ModeChange | None:
    """The first mode change strictly after the moment (None beyond the search horizon)."""
    plans = schedule.day_plans
    following = _end_of_mode(plans, _piece_at(plans, to_utc(moment_utc)))
    return ModeChange(following.start, following.mode) if following else None


def changes_between(schedule: Schedule, start: datetime, end: datetime) -> list[ModeChange]:
    """Every mode change at a moment in (start, end], in order."""
    start, end = to_utc(start), to_utc(end)
    plans = schedule.day_plans
    current = _piece_at(plans, start).mode
    changes: list[ModeChange] = []
    days = (local_date(end) - local_date(start)).days + 1
    for piece in _pieces_forward(plans, local_date(start), days):
        if piece.start > end:
            break
        if piece.start > start and piece.mode != current:
            changes.append(ModeChange(piece.start, piece.mode))
        if piece.end > start:
            current = piece.mode
    return changes


def load_schedule_file(path: Path) -> Schedule:
    """Read a schedule JSON file; ScheduleInvalid names every problem."""
    return parse_schedule(Path(path).read_text(encoding="utf-8"))
