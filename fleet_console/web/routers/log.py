"""One log across branches, newest first, filtered to one or more branches, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from controller.store.codec import to_ms
from fleet_console.store.branches import BranchStore
from fleet_console.store.fleet_events import FleetEventStore, LogCursor
from fleet_console.web.pages import Conn, SecurityPage, render

router = APIRouter(include_in_schema=False)
PAGE = 100
MAX_FILTER = 50  # branches in one filter


@router.get("/log")
def log_page(
    request: Request,
    viewer: SecurityPage,
    conn: Conn,
    branch: Annotated[list[str] | None, Query(max_length=MAX_FILTER)] = None,
    before_ms: Annotated[int | None, Query(ge=0)] = None,
    before_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    cursor = LogCursor(before_ms, before_id) if before_ms is not None and before_id is not None else None
    chosen = [b[:64] for b in branch or [] if b]
    rows = FleetEventStore(conn).log(chosen, PAGE + 1, cursor)
    more = rows[PAGE] if len(rows) > PAGE else None
    rows = rows[:PAGE]
    return render(
        request,
        "log.html",
        viewer,
        rows=rows,
        known=BranchStore(conn).ids(),
        chosen=chosen,
        next_cursor=(to_ms(rows[-1].at), rows[-1].msg_id) if more is not None else None,
    )
