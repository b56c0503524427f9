"""Today (the landing page): the mode and its next change, the door, today's entries, alarms.

The page polls /today/status.json every few seconds (static/app.js) and fills in the same
fields; without JavaScript a reload shows the same. Door, entries and alarms are security's
(as in the API); managers see the mode part.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from controller.domain.clock import BRANCH_TZ, local_date, to_local
from controller.domain.events import EventType
from controller.door.ports import DoorSnapshot
from controller.http.services import ApiServices, DoorUnavailable
from controller.services.use_cases import mode_outlook
from controller.services.users import Role
from controller.store.events import EventFilter, EventLog
from controller.store.schedule import ScheduleStore
from controller.web.i18n import Translator, language_of
from controller.web.pages import SECURITY_HEADERS, AnyViewer, Conn, render, services_of, weekday_of
from controller.web.sessions import Viewer

router = APIRouter(include_in_schema=False)

POLL_SECONDS = 5
ALARM_TYPES = (EventType.DOOR_FORCED, EventType.DOOR_HELD_OPEN, EventType.ALARM,
               EventType.SIGN_IN_PAUSED)
LAST_ALARMS = 5


def door_state(snapshot: DoorSnapshot | None) -> str:
    """One word for the door, worst first: alarm > open > unlocked > locked."""
    if snapshot is None:
        return "unavailable"
    if snapshot.alarm:
        return "alarm"
    if snapshot.door_open:
        return "open"
    return "unlocked" if snapshot.relay_unlocked else "locked"


def today_status(services: ApiServices, conn: sqlite3.Connection, viewer: Viewer,
                 t: Translator) -> dict[str, Any]:
    """Everything the page shows, as display strings (the same for the page and the JSON)."""
    now = services.runtime.clock()
    schedule = ScheduleStore(conn).load().schedule
    outlook = mode_outlook(schedule, now)
    current, change = outlook.current, outlook.next
    status: dict[str, Any] = {
        "mode": current.mode.value,
        "mode_label": t(f"mode.{current.mode.value}"),
        "cause": t.cause(current.cause),
        "since": to_local(current.since).strftime("%Y-%m-%d %H:%M") if current.since else "",
        "next": (f"{t('weekday.' + weekday_of(change.at))} "
                 f"{to_local(change.at).strftime('%Y-%m-%d %H:%M')}: {t(f'mode.{change.mode.value}')}"
                 if change else t("today.next_none")),
        "updated": t("today.updated", time=to_local(now).strftime("%H:%M:%S")),
        "security": viewer.may(Role.SECURITY),
    }
    if not viewer.may(Role.SECURITY):
        return status
    try:
        snapshot = services.door.snapshot()
    except DoorUnavailable:  # the door process is down or restarting: say so, show the rest
        snapshot = None
    state = door_state(snapshot)
    midnight = datetime.combine(local_date(now), time(0), tzinfo=BRANCH_TZ)
    log = EventLog(conn)
    counts = log.count((EventType.ACCESS_GRANTED, EventType.ACCESS_REFUSED), since=midnight)
    alarms = log.query(EventFilter(types=ALARM_TYPES), limit=LAST_ALARMS)
    status.update({
        "door": state,
        "door_label": t(f"door.{state}"),
        "door_message": (snapshot.message.nl if t.lang == "nl" else snapshot.message.en)
        if snapshot else "",
        "granted": counts[EventType.ACCESS_GRANTED],
        "refused": counts[EventType.ACCESS_REFUSED],
        "alarms": [{"id": e.id, "at": to_local(e.at).strftime("%Y-%m-%d %H:%M"),
                    "what": t(f"event.{e.type.value}")} for e in alarms],
    })
    return status


@router.get("/today")
def today_page(request: Request, viewer: AnyViewer, conn: Conn) -> Response:
    t = Translator(language_of(request))
    return render(request, "today.html", viewer, status=today_status(
        services_of(request), conn, viewer, t), poll_seconds=POLL_SECONDS)


@router.get("/today/status.json")
def today_json(request: Request, viewer: AnyViewer, conn: Conn) -> JSONResponse:
    t = Translator(language_of(request))
    return JSONResponse(today_status(services_of(request), conn, viewer, t),
                        headers={"Cache-Control": SECURITY_HEADERS["Cache-Control"]})
