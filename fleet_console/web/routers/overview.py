"""Every branch at a glance: state, mode, door, last heartbeat, open alerts, today's entries,
messages it sent that never came (asked for again, or lost); and the open alerts themselves, which security closes once someone looked."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from controller.domain.clock import BRANCH_TZ, to_local, to_utc
from fleet_console.service.gaps import overdue
from fleet_console.store.branches import BranchStore
from fleet_console.store.fleet_events import FleetEventStore, IngestCounts
from fleet_console.store.seqs import SeqStore
from fleet_console.web.pages import AnyPage, Conn, Console, SecurityForm, redirect, render

router = APIRouter(include_in_schema=False)
HEARTBEAT_LATE = timedelta(minutes=5)  # five default heartbeats missed
ALERTS_SHOWN = 50


def start_of_today(now: datetime) -> datetime:
    """Local midnight (the branches' day, Europe/Amsterdam) as UTC."""
    return to_utc(datetime.combine(to_local(now).date(), time(0), tzinfo=BRANCH_TZ))


@router.get("/overview")
def overview(request: Request, viewer: AnyPage, console: Console, conn: Conn) -> Response:
    now = console.clock()
    events = FleetEventStore(conn)
    counts = IngestCounts(conn).all()
    return render(
        request,
        "overview.html",
        viewer,
        now=now,
        branches=BranchStore(conn).all(),
        entries=events.entries_since(start_of_today(now)),
        alert_counts=events.open_alert_counts(),
        alerts=events.open_alerts(ALERTS_SHOWN),
        gaps={seqs.branch: seqs for seqs in SeqStore(conn).with_gaps()},
        overdue=lambda seqs: overdue(seqs, now),
        late=now - HEARTBEAT_LATE,
        malformed=sum(n for name, n in counts.items() if name.startswith("malformed:")),
        received=counts.get("received", 0),
        connected=console.link is not None and console.link.subscribed.is_set(),
    )


@router.post("/alerts/close")
def close_alert(
    viewer: SecurityForm, console: Console, conn: Conn, alert: Annotated[str, Form(max_length=200)]
) -> Response:
    FleetEventStore(conn).close_alert(alert, viewer.user.username, console.clock())
    return redirect("/overview")
