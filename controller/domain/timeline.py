"""The door mode a schedule implies: at a moment, the next change, and every change in a span.

Split from controller.domain.schedule (the document and its validation) because this is
the other job: turning Europe/Amsterdam wall-clock windows into aware UTC stretches across
DST changes, holidays and exceptions, and walking them fast enough for the door process.
The walk's per-schedule day plans are cached here, keyed on the schedule object, so the
schedule module needs nothing from this one and there is no import cycle.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from controller.domain.clock import BRANCH_TZ, local_date, to_utc
from controller.domain.holidays import Holiday, holiday_on
from controller.domain.modes import DoorMode
from controller.domain.schedule import MINUTES_PER_DAY, WEEKDAYS, DateException, Schedule, Window

# How far mode_at / next_change look for the edges of the current mode before giving up.
SEARCH_HORIZON_DAYS = 400


class CauseKind(StrEnum):
    """Which part of the schedule decides a day: the values are the API's `cause_kind`."""

    WEEKLY = "weekly"
    HOLIDAY = "holiday"
    CLOSURE = "closure"
    SPECIAL_HOURS = "special_hours"


@dataclass(frozen=True)
class ModeCause:
    """Why a day has its modes, as values: the pages say it in their language from these
    (no sentence parsed back), `str()` gives the English the API and the logs have always
    shown ("weekly", "holiday: Koningsdag", "closure: Verbouwing", "special hours")."""

    kind: CauseKind
    holiday: Holiday | None = None  # which holiday, for HOLIDAY
    note: str = ""  # the exception's note, for CLOSURE and SPECIAL_HOURS (may be empty)

    def __str__(self) -> str:
        if self.holiday is not None:
            return f"{self.kind.value}: {self.holiday.name_nl}"
        label = self.kind.value.replace("_", " ")
        return f"{label}: {self.note}" if self.note else label


WEEKLY = ModeCause(CauseKind.WEEKLY)


class ModeNow(BaseModel):
    """The mode at a moment, the edges of that stretch (UTC; None = beyond the search horizon)
    and why (a ModeCause)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: DoorMode = Field(description="The door mode.")
    since: datetime | None = Field(description="When this mode began (UTC).")
    until: datetime | None = Field(description="When it ends (UTC).")
    cause: ModeCause = Field(description="What in the schedule decides this mode right now.")


class ModeChange(NamedTuple):
    """The branch switches to `mode` at `at` (aware UTC)."""

    at: datetime
    mode: DoorMode


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
    later = local.astimezone(UTC)
    if later.astimezone(BRANCH_TZ).replace(tzinfo=None) == local.replace(tzinfo=None):
        return later
    # In the gap: the clock jumped past this time somewhere in [earlier, later).
    earlier = local.replace(fold=1).astimezone(UTC)
    offset_after = later.astimezone(BRANCH_TZ).utcoffset()
    low, high = int(earlier.timestamp()), int(later.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        moment = datetime.fromtimestamp(middle, UTC)
        if moment.astimezone(BRANCH_TZ).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


# ---------------------------------------------------------------- mode computation


@dataclass(frozen=True)
class _Piece:
    """One unmerged stretch of a single local day: [start, end) in UTC."""

    start: datetime
    end: datetime
    mode: DoorMode
    cause: ModeCause


@dataclass(frozen=True)
class _DayPlan:
    """One kind of local day: its stretches as (start, end, mode) minutes and their cause."""

    stretches: tuple[tuple[int, int, DoorMode], ...]
    cause: ModeCause

    @property
    def single_mode(self) -> DoorMode | None:
        """The mode of the whole day when it has only one (no wall_to_utc needed to know)."""
        if not self.stretches:
            return DoorMode.CLOSED
        if len(self.stretches) == 1 and self.stretches[0][:2] == (0, MINUTES_PER_DAY):
            return self.stretches[0][2]
        return None


# Dates whose plan a schedule's _DayPlans keeps (a lookup walks up to twice the horizon).
_DAYS_REMEMBERED = 4 * SEARCH_HORIZON_DAYS


class _DayPlans:
    """A schedule's day plans, each worked out once per schedule.

    A mode lookup walks up to SEARCH_HORIZON_DAYS days each way, in the door process, on
    every schedule change; sorting and joining the same weekday's windows again for each
    of those days cost over half a second for a week of small windows.
    """

    def __init__(self, schedule: Schedule) -> None:
        self._weekly = tuple(
            _DayPlan(_joined(getattr(schedule.weekly, weekday)), WEEKLY) for weekday in WEEKDAYS
        )
        self._exceptions = {
            exception.date: self._exception_plan(exception) for exception in schedule.exceptions
        }
        self._holiday_keys = schedule.holiday_keys()
        self._by_day: dict[date, _DayPlan] = {}
        self.uniform_mode = self._uniform_mode()

    def _uniform_mode(self) -> DoorMode | None:
        """The one mode of every day this schedule can have (each weekday, each exception, a
        closed holiday), or None when days differ: such a mode never ends, so the lookups
        need not walk the horizon day by day to find that out."""
        plans = [*self._weekly, *self._exceptions.values()]
        modes = {plan.single_mode for plan in plans}
        if self._holiday_keys:
            modes.add(DoorMode.CLOSURE)
        return modes.pop() if len(modes) == 1 else None

    @staticmethod
    def _exception_plan(exception: DateException) -> _DayPlan:
        if exception.kind == "closure":
            return _DayPlan(
                ((0, MINUTES_PER_DAY, DoorMode.CLOSURE),), ModeCause(CauseKind.CLOSURE, note=exception.note)
            )
        return _DayPlan(_joined(exception.windows), ModeCause(CauseKind.SPECIAL_HOURS, note=exception.note))

    def on(self, day: date) -> _DayPlan:
        """The plan of one local date, looked up once per date: the walks ask about the same
        days again for each lookup (mode_at, next_change, every output's plan)."""
        plan = self._by_day.get(day)
        if plan is None:
            if len(self._by_day) >= _DAYS_REMEMBERED:  # a schedule kept for years
                self._by_day.clear()
            plan = self._by_day[day] = self._plan_on(day)
        return plan

    def _plan_on(self, day: date) -> _DayPlan:
        """Its exception, else its holiday, else its weekday."""
        exception = self._exceptions.get(day)
        if exception is not None:
            return exception
        holiday = holiday_on(day, self._holiday_keys)
        if holiday is not None:
            return _DayPlan(
                ((0, MINUTES_PER_DAY, DoorMode.CLOSURE),), ModeCause(CauseKind.HOLIDAY, holiday=holiday)
            )
        return self._weekly[day.weekday()]


# The day plans of each live schedule, by identity. A Schedule is a mutable pydantic model and
# so unhashable (no WeakKeyDictionary); a finalizer drops the entry when the schedule is
# collected, before its id can be reused.
_plans_by_schedule: dict[int, _DayPlans] = {}


def _day_plans(schedule: Schedule) -> _DayPlans:
    """The day plans mode lookups walk, worked out once for this schedule object.

    Two threads asking at once may both work them out; the first stored is kept.
    """
    key = id(schedule)
    plans = _plans_by_schedule.get(key)
    if plans is None:
        plans = _DayPlans(schedule)
        if _plans_by_schedule.setdefault(key, plans) is plans:
            weakref.finalize(schedule, _plans_by_schedule.pop, key, None)
    return plans


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
    for start, end, mode in sorted(
        (window.start_minute, window.end_minute, window.mode) for window in windows
    ):
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
    if plans.uniform_mode is piece.mode:
        return None
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
    if plans.uniform_mode is piece.mode:
        return None
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


def mode_only_at(schedule: Schedule, moment_utc: datetime) -> DoorMode:
    """Only the mode at an aware moment: for callers that need no edges of its stretch,
    which mode_at finds by walking up to SEARCH_HORIZON_DAYS each way."""
    return _piece_at(_day_plans(schedule), to_utc(moment_utc)).mode


def mode_at(schedule: Schedule, moment_utc: datetime) -> ModeNow:
    """The mode at an aware moment, with the stretch it belongs to and its cause."""
    plans = _day_plans(schedule)
    piece = _piece_at(plans, to_utc(moment_utc))
    following = _end_of_mode(plans, piece)
    return ModeNow(
        mode=piece.mode,
        since=_start_of_mode(plans, piece),
        until=following.start if following else None,
        cause=piece.cause,
    )


def next_change(schedule: Schedule, moment_utc: datetime) -> ModeChange | None:
    """The first mode change strictly after the moment (None beyond the search horizon)."""
    plans = _day_plans(schedule)
    following = _end_of_mode(plans, _piece_at(plans, to_utc(moment_utc)))
    return ModeChange(following.start, following.mode) if following else None


def changes_between(schedule: Schedule, start: datetime, end: datetime) -> list[ModeChange]:
    """Every mode change at a moment in (start, end], in order."""
    start, end = to_utc(start), to_utc(end)
    plans = _day_plans(schedule)
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
