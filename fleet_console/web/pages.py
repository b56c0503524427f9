"""What every console page shares: the request's connection, the signed-in viewer, role checks
(`page(role)`, `form(role)` with the CSRF token, as on a branch), and rendering with the menu.

The viewer, its session and the CSRF check are the branch's own (controller/web/sessions.py,
csrf.py) on the console's tables, and so are the templates' set-up, the page exceptions, the
posted form and the redirect after a POST (controller/web/pages.py, re-exported here for the
console's routers); only the wiring to the console's runtime is here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from controller.domain.roles import Role
from controller.web.pages import SECURITY_HEADERS, csrf_checked
from controller.web.pages import PageForbidden as PageForbidden
from controller.web.pages import PageNotFound as PageNotFound
from controller.web.pages import Posted as Posted
from controller.web.pages import SignInRequired as SignInRequired
from controller.web.pages import redirect as redirect
from controller.web.sessions import SESSION_COOKIE, Sessions, Viewer
from fleet_console.service.runtime import ConsoleRuntime

TEMPLATES_DIR = Path(__file__).parent / "templates"
NAV = (
    ("/overview", "Branches", ()),
    ("/log", "Log", (Role.SECURITY,)),
    ("/send/schedule", "Schedule", (Role.MANAGER,)),
    ("/send/blocks", "Blocks", (Role.MANAGER,)),
    ("/commands", "Sent", (Role.MANAGER, Role.SECURITY)),
)


def console_of(request: Request) -> ConsoleRuntime:
    return request.app.state.console


Console = Annotated[ConsoleRuntime, Depends(console_of)]


def request_connection(console: Console) -> Iterator[sqlite3.Connection]:
    conn = console.connection()
    try:
        yield conn
    finally:
        conn.close()


Conn = Annotated[sqlite3.Connection, Depends(request_connection)]


def current_viewer(request: Request, console: Console, conn: Conn) -> Viewer:
    viewer = Sessions(conn, console.clock).resolve(request.cookies.get(SESSION_COOKIE))
    if viewer is None:
        raise SignInRequired()
    return viewer


def page(*roles: Role) -> Callable[[Viewer], Viewer]:
    """A dependency: the viewer, refused with a 403 page unless they hold one of `roles` (none:
    anyone signed in)."""

    def check(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
        if not may_any(viewer, roles):
            raise PageForbidden(roles[0])
        return viewer

    return check


def form(*roles: Role) -> Callable[..., Any]:
    """`page(*roles)` plus the CSRF token check, for every POST."""
    return csrf_checked(page(*roles))


AnyPage = Annotated[Viewer, Depends(page())]
AnyForm = Annotated[Viewer, Depends(form())]
StaffPage = Annotated[Viewer, Depends(page(Role.MANAGER, Role.SECURITY))]
ManagerPage = Annotated[Viewer, Depends(page(Role.MANAGER))]
ManagerForm = Annotated[Viewer, Depends(form(Role.MANAGER))]
SecurityPage = Annotated[Viewer, Depends(page(Role.SECURITY))]
SecurityForm = Annotated[Viewer, Depends(form(Role.SECURITY))]


def may_any(viewer: Viewer, roles: tuple[Role, ...]) -> bool:
    return not roles or any(viewer.may(role) for role in roles)


def render(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    nav = [(path, label) for path, label, roles in NAV if viewer is not None and may_any(viewer, roles)]
    response = request.app.state.templates.TemplateResponse(
        request,
        template,
        {"viewer": viewer, "nav": nav, "here": request.url.path, "Role": Role, **context},
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response
