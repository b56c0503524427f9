"""The opening schedule and the door mode it gives (role manager).

A replace is validated whole (422 lists every problem, nothing stored), stored with an
ADMIN_CHANGE event in one transaction, then handed to the service so the door's mode is
recomputed at once. With nothing stored the schedule is empty: CLOSED around the clock.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from controller.api.deps import Actor, Conn, Services, require_role
from controller.api.schemas import TimePoint, error_responses
from controller.domain.holidays import dutch_holidays
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule, schedule_problems
from controller.domain.timeline import CauseKind, ModeChange, changes_between, mode_at
from controller.services.schedule import replace_schedule as store_schedule
from controller.services.use_cases import mode_outlook
from controller.services.users import Role
from controller.store.schedule import ScheduleStore, StoredSchedule

_MANAGER = [Depends(require_role(Role.MANAGER))]
_COMMON = error_responses(400, 401, 403, 422)
router = APIRouter(prefix="/schedule", tags=["schedule"], dependencies=_MANAGER, responses=_COMMON)
mode_router = APIRouter(prefix="/mode", tags=["schedule"], dependencies=_MANAGER, responses=_COMMON)

MAX_PREVIEW_DAYS = 62


class ScheduleStateOut(BaseModel):
    schedule: Schedule
    stored: bool = Field(description="false: nothing stored yet, the empty (always closed) default.")
    updated_at: TimePoint | None
    updated_by: str | None

    @classmethod
    def of(cls, stored: StoredSchedule) -> ScheduleStateOut:
        return cls(
            schedule=stored.schedule,
            stored=not stored.is_default,
            updated_at=TimePoint.maybe(stored.updated_at),
            updated_by=stored.updated_by,
        )


class NextChangeOut(BaseModel):
    at: TimePoint
    mode: DoorMode


class ModeOut(BaseModel):
    at: TimePoint = Field(description="The moment this answer is for (now).")
    mode: DoorMode
    cause: str = Field(examples=["weekly", "holiday: Koningsdag", "closure: Verbouwing"])
    cause_kind: CauseKind = Field(
        description="The cause as a value, for clients that say it in their own words."
    )
    since: TimePoint | None = Field(description="When this mode began; null beyond 400 days.")
    next_change: NextChangeOut | None = Field(description="null: no change within 400 days.")


class SavedOut(ScheduleStateOut):
    mode: ModeOut = Field(description="The mode the new schedule gives right now.")
    applied: bool = Field(description="false: the running door could not be told (see the log).")


class ValidationOut(BaseModel):
    valid: bool
    problems: list[str]


class HolidayOut(BaseModel):
    key: str
    date: dt.date
    name_nl: str
    name_en: str
    closed: bool = Field(description="Switched on in the stored schedule (closed all day).")


class HolidaysOut(BaseModel):
    year: int
    holidays: list[HolidayOut]


class ChangeOut(BaseModel):
    at: TimePoint
    mode: DoorMode
    cause: str
    cause_kind: CauseKind

    @classmethod
    def of(cls, schedule: Schedule, change: ModeChange) -> ChangeOut:
        cause = mode_at(schedule, change.at).cause
        return cls(at=TimePoint.of(change.at), mode=change.mode, cause=str(cause), cause_kind=cause.kind)


class PreviewOut(BaseModel):
    start: TimePoint
    end: TimePoint
    changes: list[ChangeOut]


def mode_now(schedule: Schedule, services: Services) -> ModeOut:
    outlook = mode_outlook(schedule, services.runtime.clock())
    current, change = outlook.current, outlook.next
    return ModeOut(
        at=TimePoint.of(outlook.at),
        mode=current.mode,
        cause=str(current.cause),
        cause_kind=current.cause.kind,
        since=TimePoint.maybe(current.since),
        next_change=NextChangeOut(at=TimePoint.of(change.at), mode=change.mode) if change else None,
    )


@router.get("", response_model=ScheduleStateOut, summary="The schedule in force")
def get_schedule(conn: Conn) -> ScheduleStateOut:
    return ScheduleStateOut.of(ScheduleStore(conn).load())


@router.put(
    "",
    response_model=SavedOut,
    responses=error_responses(413),
    summary="Replace the schedule (validated whole)",
)
def replace_schedule(schedule: Schedule, services: Services, conn: Conn, actor: Actor) -> SavedOut:
    stored, applied = store_schedule(services.runtime, conn, schedule, actor, services.schedule_changed)
    state = ScheduleStateOut.of(stored)
    return SavedOut(**dict(state), mode=mode_now(schedule, services), applied=applied)


@router.post(
    "/validate",
    response_model=ValidationOut,
    responses=error_responses(413),
    summary="Check a schedule document without storing it",
)
def validate_schedule(
    document: Annotated[dict[str, Any], Body(description="A schedule document (as for PUT).")],
) -> ValidationOut:
    problems = schedule_problems(document)
    return ValidationOut(valid=not problems, problems=problems)


@router.get(
    "/holidays",
    response_model=HolidaysOut,
    summary="Dutch public holidays of a year, with the schedule's keys",
)
def holidays(
    conn: Conn,
    services: Services,
    year: Annotated[int | None, Query(ge=2014, le=2100, description="Default: this year.")] = None,
) -> HolidaysOut:
    year = year or services.runtime.clock().year
    closed = ScheduleStore(conn).load().schedule.holiday_keys()
    return HolidaysOut(
        year=year,
        holidays=[
            HolidayOut(key=h.key, date=h.day, name_nl=h.name_nl, name_en=h.name_en, closed=h.key in closed)
            for h in dutch_holidays(year)
        ],
    )


@router.get(
    "/preview", response_model=PreviewOut, summary="Every mode change in the next N days (DST-correct)"
)
def preview(
    conn: Conn, services: Services, days: Annotated[int, Query(ge=1, le=MAX_PREVIEW_DAYS)] = 14
) -> PreviewOut:
    schedule = ScheduleStore(conn).load().schedule
    start = services.runtime.clock()
    end = start + timedelta(days=days)
    changes = [ChangeOut.of(schedule, change) for change in changes_between(schedule, start, end)]
    return PreviewOut(start=TimePoint.of(start), end=TimePoint.of(end), changes=changes)


@mode_router.get("", response_model=ModeOut, summary="The door mode now, why, and what comes next")
def current_mode(conn: Conn, services: Services) -> ModeOut:
    return mode_now(ScheduleStore(conn).load().schedule, services)
