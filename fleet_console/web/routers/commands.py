"""What was sent and who applied it: the recent commands with their counts, and per command each
target branch's answer next to its state (a branch online again that has not answered is
pending; one still offline is pending and marked offline)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fleet_console.store.branches import BranchStore
from fleet_console.store.commands import CommandStore
from fleet_console.web.pages import Conn, PageNotFound, StaffPage, render

router = APIRouter(include_in_schema=False)
RECENT = 50
_ID = re.compile(r"^[0-9a-f]{32}$")


@router.get("/commands")
def commands_page(request: Request, viewer: StaffPage, conn: Conn) -> Response:
    return render(request, "commands.html", viewer, commands=CommandStore(conn).recent(RECENT))


@router.get("/commands/{command_id}")
def command_page(request: Request, viewer: StaffPage, conn: Conn, command_id: str) -> Response:
    store = CommandStore(conn)
    command = store.get(command_id) if _ID.match(command_id) else None
    if command is None:
        raise PageNotFound()
    branches = BranchStore(conn)
    targets = [(target, branches.get(target.branch)) for target in store.targets(command_id)]
    return render(request, "command.html", viewer, command=command, targets=targets)
