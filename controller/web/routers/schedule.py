"""The schedule page (role manager): the week view, exceptions, holidays, the next 14 days.

Buttons that add or remove a row post the whole form and get it back with the change, so
nothing typed is lost and no JavaScript is needed. Saving goes through the API's own replace
(stored with an audit event in one transaction, then services.schedule_changed at once).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from controller.domain.holidays import dutch_holidays
from controller.domain.schedule import WEEKDAYS, Schedule, ScheduleInvalid, parse_schedule
from controller.domain.timeline import changes_between, mode_at
from controller.services.schedule import replace_schedule
from controller.services.use_cases import mode_outlook
from controller.store.schedule import ScheduleStore
from controller.web.pages import Conn, ManagerForm, ManagerPage, Posted, redirect, render, services_of
from controller.web.schedule_form import ScheduleForm, place_problems
from controller.web.sessions import Viewer

router = APIRouter(include_in_schema=False)
PREVIEW_DAYS = 14


def _preview(schedule: Schedule, request: Request) -> list[dict]:
    now = services_of(request).runtime.clock()
    return [
        {"at": change.at, "mode": change.mode.value, "cause": mode_at(schedule, change.at).cause}
        for change in changes_between(schedule, now, now + timedelta(days=PREVIEW_DAYS))
    ]


def _page(
    request: Request,
    viewer: Viewer,
    conn,
    form: ScheduleForm,
    status_code: int = 200,
    problems: dict[str, list[str]] | None = None,
    saved: bool = False,
) -> Response:
    services = services_of(request)
    stored = ScheduleStore(conn).load()
    now = services.runtime.clock()
    year = now.year
    holidays = {h.key: h for h in dutch_holidays(year)}  # this year's names and dates
    upcoming = {h.key: h for h in dutch_holidays(year + 1)}
    return render(
        request,
        "schedule.html",
        viewer,
        status_code=status_code,
        form=form,
        weekdays=WEEKDAYS,
        problems=problems or {},
        saved=saved,
        stored=stored,
        mode=mode_outlook(stored.schedule, now).current,
        preview=_preview(stored.schedule, request),
        holidays=holidays,
        upcoming=upcoming,
        preview_days=PREVIEW_DAYS,
    )


@router.get("/schedule")
def schedule_page(request: Request, viewer: ManagerPage, conn: Conn, saved: bool = False) -> Response:
    form = ScheduleForm.of(ScheduleStore(conn).load().schedule)
    return _page(request, viewer, conn, form, saved=saved)


@router.post("/schedule")
def schedule_post(request: Request, viewer: ManagerForm, conn: Conn, posted: Posted) -> Response:
    fields = {k: v for k, v in posted.items() if isinstance(v, str)}
    form = ScheduleForm.parse(fields, [v for v in posted.getlist("holiday") if isinstance(v, str)])
    action = fields.get("action", "save")
    if action != "save":
        form.apply(action)
        return _page(request, viewer, conn, form)
    try:
        schedule = parse_schedule(form.document())
    except ScheduleInvalid as invalid:
        return _page(request, viewer, conn, form, status_code=422, problems=place_problems(invalid.problems))
    services = services_of(request)
    replace_schedule(services.runtime, conn, schedule, viewer.actor, services.schedule_changed)
    return redirect("/schedule?saved=1")
