"""Today (the landing page): the mode and its next change, the door, today's entries, alarms.

The page polls /today/status.json every few seconds (static/app.js) and fills in the same
fields; without JavaScript a reload shows the same. Door, entries and alarms are security's
(as in the API); managers see the mode part. The library-system block (when the branch links
to its LMS, or once did) is for both: the link's state, today's entries decided offline, and
the offline policy and eligibility rules in words, read-only (they live in the config file).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from controller.domain.clock import BRANCH_TZ, local_date, to_local
from controller.domain.events import EventType
from controller.domain.outputs import OutputStatus, Source, UnknownOutput
from controller.door.ports import DoorSnapshot
from controller.http.services import ApiServices, DoorUnavailable
from controller.services.alerts.message import AlertMessage
from controller.services.alerts.overview import AlertNotOpen, AlertView, acknowledge, open_alerts
from controller.services.events import MAX_ID
from controller.services.lms_overview import LmsOverview, lms_overview
from controller.services.output_switch import OutputChoice, output_control, switch_output
from controller.services.use_cases import mode_outlook
from controller.services.users import Role
from controller.store.events import EventFilter, EventLog
from controller.store.schedule import ScheduleStore
from controller.web.i18n import Translator, language_of
from controller.web.pages import (
    SECURITY_HEADERS,
    AnyViewer,
    Conn,
    ManagerForm,
    PageNotFound,
    SecurityForm,
    redirect,
    render,
    services_of,
    weekday_of,
)
from controller.web.sessions import Viewer

router = APIRouter(include_in_schema=False)

POLL_SECONDS = 5
ALARM_TYPES = (EventType.DOOR_FORCED, EventType.DOOR_HELD_OPEN, EventType.ALARM, EventType.SIGN_IN_PAUSED)
LAST_ALARMS = 5
POLICY_KEYS = {
    "deny": "today.lms.policy.deny",
    "cached": "today.lms.policy.cached",
    "allow-registered": "today.lms.policy.allow_registered",
}
# SIP2's 14 patron-status positions (0-13), in the order the LMS sends them.
STATUS_POSITION_KEYS = (
    "today.lms.position.charge_denied",
    "today.lms.position.renewal_denied",
    "today.lms.position.recall_denied",
    "today.lms.position.hold_denied",
    "today.lms.position.card_lost",
    "today.lms.position.too_many_charged",
    "today.lms.position.too_many_overdue",
    "today.lms.position.too_many_renewals",
    "today.lms.position.too_many_claims",
    "today.lms.position.too_many_lost",
    "today.lms.position.fines",
    "today.lms.position.fees",
    "today.lms.position.recall_overdue",
    "today.lms.position.too_many_billed",
)


def door_state(snapshot: DoorSnapshot | None) -> str:
    """One word for the door, worst first: alarm > open > unlocked > locked."""
    if snapshot is None:
        return "unavailable"
    if snapshot.alarm:
        return "alarm"
    if snapshot.door_open:
        return "open"
    return "unlocked" if snapshot.relay_unlocked else "locked"


def link_words(overview: LmsOverview, t: Translator) -> str:
    """The link's last change in words, in branch time (the web process sees only the events)."""
    change = overview.last_change
    if change is None:
        return t("today.lms.link_never")
    when = to_local(change.at).strftime("%Y-%m-%d %H:%M")
    return t("today.lms.link_up" if change.up else "today.lms.link_down", time=when)


def lms_rules(overview: LmsOverview, t: Translator) -> list[str]:
    """The eligibility rules, one sentence each."""
    rules = overview.eligibility
    classes = ", ".join(rules.open_plus_patron_classes)
    barring = "; ".join(f"{n}: {t(STATUS_POSITION_KEYS[n])}" for n in sorted(rules.barring_status_positions))
    return [
        t("today.lms.rule.min_age", age=rules.min_age),
        t("today.lms.rule.classes", classes=classes) if classes else t("today.lms.rule.classes_local"),
        t("today.lms.rule.barring", positions=barring) if barring else t("today.lms.rule.barring_none"),
        t("today.lms.rule.lost" if rules.card_lost_bars else "today.lms.rule.lost_off"),
        t("today.lms.rule.expiry" if rules.check_expiry else "today.lms.rule.expiry_off"),
        t("today.lms.rule.consent" if rules.minors_need_consent else "today.lms.rule.consent_off"),
    ]


def lms_status(overview: LmsOverview, t: Translator) -> dict[str, Any]:
    """The library-system block's display strings (the polled ones and the fixed rules)."""
    return {
        "lms": overview.shown,
        "lms_enabled": t("today.lms.enabled" if overview.enabled else "today.lms.disabled"),
        "lms_link": link_words(overview, t),
        "lms_offline_today": overview.offline_today,
        "lms_policy": t(POLICY_KEYS[overview.offline_policy], days=overview.cache_days),
        "lms_rules": lms_rules(overview, t),
        "lms_rules_where": (
            t("today.lms.where")
            if overview.rules_from_fleet is None
            else t("today.lms.where_fleet", version=overview.rules_from_fleet)
        ),
    }


def alert_line(view: AlertView, t: Translator) -> dict[str, Any]:
    """One open alert for the page: when, what, and whether it reached anyone."""
    row = view.alert
    if not row.sent:
        state = "today.alerts.listed"
    elif view.deliveries and all(done for done, _, _ in view.deliveries.values()):
        state = "today.alerts.delivered"
    else:
        state = "today.alerts.waiting"
    return {
        "id": row.id,
        "at": to_local(row.at).strftime("%Y-%m-%d %H:%M"),
        "what": AlertMessage.of(row).what(t.lang),
        "detail": row.detail or "",
        "repeats": t("today.alerts.repeats", count=row.repeats) if row.repeats else "",
        "state": t(state),
        "event_id": row.event_id,
    }


def output_lines(services: ApiServices, t: Translator) -> list[dict[str, Any]]:
    """The building outputs ([[outputs]]) for managers: on or off, who decides, what comes next;
    each configured one is listed, as unknown while the door process cannot be reached."""
    names = [output.name for output in services.runtime.settings.outputs]
    control = output_control(services.door)
    try:
        known = {status.name: status for status in control.outputs()} if names and control else {}
    except DoorUnavailable:
        known = {}

    def line(name: str, status: OutputStatus | None) -> dict[str, Any]:
        if status is None:
            return {
                "name": name,
                "state": "unknown",
                "state_label": t("today.outputs.unknown"),
                "source": "",
                "next": "",
                "switchable": False,
            }
        state = "on" if status.on else "off"
        then = "" if status.next_on is None else t(f"today.outputs.{'on' if status.next_on else 'off'}")
        return {
            "name": name,
            "state": state,
            "state_label": t(f"today.outputs.{state}"),
            "source": t("today.outputs.manual", actor=status.manual_by or "")
            if status.source is Source.MANUAL
            else t("today.outputs.schedule"),
            "next": t(
                "today.outputs.next", when=to_local(status.next_at).strftime("%Y-%m-%d %H:%M"), state=then
            )
            if status.next_at
            else t("today.outputs.none"),
            "switchable": True,
        }

    return [line(name, known.get(name)) for name in names]


def today_status(
    services: ApiServices, conn: sqlite3.Connection, viewer: Viewer, t: Translator
) -> dict[str, Any]:
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
        "next": (
            f"{t('weekday.' + weekday_of(change.at))} "
            f"{to_local(change.at).strftime('%Y-%m-%d %H:%M')}: {t(f'mode.{change.mode.value}')}"
            if change
            else t("today.next_none")
        ),
        "updated": t("today.updated", time=to_local(now).strftime("%H:%M:%S")),
        "security": viewer.may(Role.SECURITY),
        "day": local_date(now).isoformat(),
    }
    status.update(lms_status(lms_overview(services.runtime.settings, conn, now), t))
    status["outputs"] = output_lines(services, t) if viewer.may(Role.MANAGER) else []
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
    status.update(
        {
            "door": state,
            "door_label": t(f"door.{state}"),
            "door_message": (snapshot.message.nl if t.lang == "nl" else snapshot.message.en)
            if snapshot
            else "",
            "occupancy": snapshot.occupancy if snapshot else None,  # the people counter; None: none
            "granted": counts[EventType.ACCESS_GRANTED],
            "refused": counts[EventType.ACCESS_REFUSED],
            "alarms": [
                {
                    "id": e.id,
                    "at": to_local(e.at).strftime("%Y-%m-%d %H:%M"),
                    "what": t(f"event.{e.type.value}"),
                }
                for e in alarms
            ],
            "open_alerts": [alert_line(view, t) for view in open_alerts(conn)],
        }
    )
    return status


@router.get("/today")
def today_page(request: Request, viewer: AnyViewer, conn: Conn) -> Response:
    t = Translator(language_of(request))
    return render(
        request,
        "today.html",
        viewer,
        status=today_status(services_of(request), conn, viewer, t),
        poll_seconds=POLL_SECONDS,
    )


@router.get("/today/status.json")
def today_json(request: Request, viewer: AnyViewer, conn: Conn) -> JSONResponse:
    t = Translator(language_of(request))
    return JSONResponse(
        today_status(services_of(request), conn, viewer, t),
        headers={"Cache-Control": SECURITY_HEADERS["Cache-Control"]},
    )


@router.post("/today/alerts/ack")
def acknowledge_alert(
    request: Request, viewer: SecurityForm, conn: Conn, alert_id: Annotated[int, Form(ge=1, le=MAX_ID)]
) -> Response:
    """Security marks an open alert seen (audited); back to Today."""
    runtime = services_of(request).runtime
    try:
        acknowledge(conn, alert_id, viewer.actor, runtime.clock, runtime.settings.branch.door)
    except AlertNotOpen:
        raise PageNotFound() from None
    return redirect("/today")


@router.post("/today/outputs")
def switch_output_by_hand(
    request: Request,
    viewer: ManagerForm,
    conn: Conn,
    name: Annotated[str, Form(max_length=32)],
    state: Annotated[OutputChoice, Form()],
) -> Response:
    """A manager switches a building output on, off or back to the schedule (audited)."""
    services = services_of(request)
    control = output_control(services.door)
    try:
        if control is None:
            raise DoorUnavailable("this door connection cannot switch building outputs")
        switch_output(conn, services.runtime, control, name, state, viewer.actor)
    except UnknownOutput:
        raise PageNotFound() from None
    except DoorUnavailable:
        return render(
            request,
            "error.html",
            viewer,
            status_code=503,
            title_key="today.outputs.failed_title",
            message_key="today.outputs.failed",
            values={},
        )
    return redirect("/today")
