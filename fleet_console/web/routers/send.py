"""Edit once, send to many: the fleet's schedule and its shared block list (role manager).

The schedule editor is the branch's own week form (controller/web/schedule_form.py) and its
rules (controller/domain/schedule.py), so what the console sends is what a branch's own
schedule page would accept. Buttons that add or remove a row post the whole form back, as on a
branch. Sending stores one signed envelope per branch and wakes the broker link; the result is
the command's page, where the branches' answers come in.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from controller.domain.holidays import dutch_holidays
from controller.domain.schedule import WEEKDAYS, Schedule, ScheduleInvalid, parse_schedule
from controller.web.i18n import Translator
from controller.web.schedule_form import ScheduleForm, place_problems
from controller.web.sessions import Viewer
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.service.send import SendRefused, send_command
from fleet_console.store.branches import BranchStore
from fleet_console.store.commands import CommandStore
from fleet_console.web.blocks_form import MAX_BLOCKS, BlocksInvalid, blocks_text, parse_blocks
from fleet_console.web.pages import Conn, Console, ManagerForm, ManagerPage, Posted, redirect, render
from fleet_console.web.targets import chosen_branches

router = APIRouter(include_in_schema=False)
MAX_BLOCKS_TEXT = 512 * 1024


def _send(console: ConsoleRuntime, conn, kind: str, body: dict, posted: FormData, viewer: Viewer) -> str:
    targets = chosen_branches(posted, BranchStore(conn).ids())
    command_id = send_command(
        conn,
        console.clock,
        console.key,
        kind=kind,
        body=body,
        targets=targets,
        by=viewer.user.username,
        console=console.settings.console.door_name,
    )
    console.wake_link()
    return command_id


def _targets_context(conn, posted: FormData | None) -> dict:
    ticked = set() if posted is None else {v for v in posted.getlist("branch") if isinstance(v, str)}
    return {
        "known": BranchStore(conn).ids(),
        "ticked": ticked,
        "all_ticked": posted is None or posted.get("all") == "1",
    }


# --- the schedule -----------------------------------------------------------------------------


def _schedule_page(
    request: Request,
    viewer: Viewer,
    console: ConsoleRuntime,
    conn,
    form: ScheduleForm,
    posted: FormData | None = None,
    status_code: int = 200,
    problems: dict | None = None,
    refused: str | None = None,
) -> Response:
    year = console.clock().year
    return render(
        request,
        "send_schedule.html",
        viewer,
        status_code=status_code,
        form=form,
        weekdays=WEEKDAYS,
        problems=problems or {},
        refused=refused,
        holidays={h.key: h for h in dutch_holidays(year)},
        t=Translator("en"),
        **_targets_context(conn, posted),
    )


@router.get("/send/schedule")
def schedule_page(request: Request, viewer: ManagerPage, console: Console, conn: Conn) -> Response:
    last = CommandStore(conn).last_body("schedule")
    schedule = parse_schedule(last) if last else Schedule()
    return _schedule_page(request, viewer, console, conn, ScheduleForm.of(schedule))


@router.post("/send/schedule")
def schedule_send(
    request: Request, viewer: ManagerForm, console: Console, conn: Conn, posted: Posted
) -> Response:
    fields = {k: v for k, v in posted.items() if isinstance(v, str)}
    form = ScheduleForm.parse(fields, [v for v in posted.getlist("holiday") if isinstance(v, str)])
    action = fields.get("action", "send")
    if action != "send":
        form.apply(action)
        return _schedule_page(request, viewer, console, conn, form, posted)
    try:
        schedule = parse_schedule(form.document())
    except ScheduleInvalid as invalid:
        problems = place_problems(invalid.problems)
        return _schedule_page(request, viewer, console, conn, form, posted, 422, problems)
    try:
        command_id = _send(console, conn, "schedule", schedule.model_dump(mode="json"), posted, viewer)
    except SendRefused as refused:
        return _schedule_page(request, viewer, console, conn, form, posted, 422, refused=str(refused))
    return redirect(f"/commands/{command_id}")


# --- the shared block list --------------------------------------------------------------------


def _blocks_page(
    request: Request,
    viewer: Viewer,
    conn,
    text: str,
    posted: FormData | None = None,
    status_code: int = 200,
    problems: list[str] | None = None,
) -> Response:
    return render(
        request,
        "send_blocks.html",
        viewer,
        status_code=status_code,
        text=text,
        problems=problems or [],
        max_blocks=MAX_BLOCKS,
        **_targets_context(conn, posted),
    )


@router.get("/send/blocks")
def blocks_page(request: Request, viewer: ManagerPage, conn: Conn) -> Response:
    last = CommandStore(conn).last_body("blocks")
    return _blocks_page(request, viewer, conn, blocks_text(last["blocks"]) if last else "")


@router.post("/send/blocks")
def blocks_send(
    request: Request, viewer: ManagerForm, console: Console, conn: Conn, posted: Posted
) -> Response:
    text = posted.get("blocks")
    if not isinstance(text, str) or len(text) > MAX_BLOCKS_TEXT:
        return _blocks_page(
            request, viewer, conn, "", posted, 422, [f"the list is missing or over {MAX_BLOCKS_TEXT} bytes"]
        )
    try:
        command_id = _send(console, conn, "blocks", {"blocks": parse_blocks(text)}, posted, viewer)
    except BlocksInvalid as invalid:
        return _blocks_page(request, viewer, conn, text, posted, 422, invalid.problems)
    except SendRefused as refused:
        return _blocks_page(request, viewer, conn, text, posted, 422, [str(refused)])
    return redirect(f"/commands/{command_id}")
