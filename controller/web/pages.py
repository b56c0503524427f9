"""What every page shares: the templates, the signed-in viewer and role checks (the friendly
error pages for what these raise are in error_pages.py).

Routers ask for `Page(role)` (a Viewer of that role, else 403 page) and `Form(role)` (the same
plus a CSRF check), so no page can forget either. No module-level state: the templates and the
pending imports hang off the app (`app.state.web`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from controller.domain.clock import to_local
from controller.domain.schedule import WEEKDAYS
from controller.http.deps import Conn, services_of
from controller.services.users import Role
from controller.web.csrf import CSRF_FIELD, check_session_form
from controller.web.i18n import Translator, language_of
from controller.web.imports import PendingImports
from controller.web.sessions import SESSION_COOKIE, Sessions, Viewer

TEMPLATES_DIR = Path(__file__).parent / "templates"
# Pages load their CSS and JS from /static only: no inline script can run.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# The menu: (path, string key, the roles of which one is needed; empty for anyone signed in).
NAV = (
    ("/today", "nav.today", ()),
    ("/schedule", "nav.schedule", (Role.MANAGER,)),
    ("/entries", "nav.entries", (Role.SECURITY,)),
    ("/members", "nav.members", (Role.MANAGER, Role.SECURITY)),  # security reads blocks
    ("/statistics", "nav.statistics", (Role.MANAGER, Role.SECURITY)),
    ("/users", "nav.users", (Role.ADMIN,)),
)


@dataclass
class WebState:
    """Per-app state of the pages: the template engine and imports awaiting confirmation."""

    templates: Jinja2Templates
    imports: PendingImports = field(default_factory=PendingImports)


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form (JSON endpoints answer 401)."""


class PageForbidden(Exception):
    """The viewer's roles do not include what the page needs; a friendly 403 page."""

    def __init__(self, role: Role) -> None:
        super().__init__(f"this page needs the {role} role")
        self.role = role


class PageNotFound(Exception):
    """No such event, member or video (or, on the fleet console, command): a friendly 404 page."""


def new_state() -> WebState:
    templates = new_templates(TEMPLATES_DIR)
    templates.env.globals["weekday_of"] = weekday_of
    return WebState(templates)


def new_templates(directory: Path) -> Jinja2Templates:
    """Templates from `directory` with what every page's template uses: the `local` time filter
    and the CSRF field's name (the fleet console's pages are set up the same way)."""
    templates = Jinja2Templates(directory=str(directory))
    templates.env.filters["local"] = _local_time
    templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
    return templates


def _local_time(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return to_local(moment).strftime(pattern) if moment else ""


def weekday_of(moment: datetime) -> str:
    """The branch-local weekday name ('monday'), for the `weekday.*` strings."""
    return WEEKDAYS[to_local(moment).weekday()]


def web_state(request: Request) -> WebState:
    return request.app.state.web


def current_viewer(request: Request, conn: Conn) -> Viewer:
    viewer = Sessions(conn, services_of(request).runtime.clock).resolve(request.cookies.get(SESSION_COOKIE))
    if viewer is None:
        raise SignInRequired()
    return viewer


AnyViewer = Annotated[Viewer, Depends(current_viewer)]


def page(role: Role | None) -> Callable[[Viewer], Viewer]:
    """A dependency: the viewer, refused with a 403 page unless they hold `role`."""

    def check(viewer: AnyViewer) -> Viewer:
        if role is not None and not viewer.may(role):
            raise PageForbidden(role)
        return viewer

    return check


def form(role: Role | None):
    """A dependency for POSTs: `page(role)` plus the CSRF token check."""
    return csrf_checked(page(role))


def csrf_checked(checked: Callable[..., Viewer]) -> Callable[..., Any]:
    """A dependency: the viewer `checked` gives, once the posted form's CSRF token is theirs (the
    fleet console's forms are checked the same way)."""

    # A default, not Annotated: the annotation is a string here and `checked` a local name.
    async def check(request: Request, viewer: Viewer = Depends(checked)) -> Viewer:
        await check_session_form(request, viewer)
        return viewer

    return check


async def posted_form(request: Request) -> FormData:
    """The posted form (parsed once; Starlette caches it for the CSRF check too)."""
    return await request.form()


Posted = Annotated[FormData, Depends(posted_form)]
ManagerPage = Annotated[Viewer, Depends(page(Role.MANAGER))]
SecurityPage = Annotated[Viewer, Depends(page(Role.SECURITY))]
AdminPage = Annotated[Viewer, Depends(page(Role.ADMIN))]
ManagerForm = Annotated[Viewer, Depends(form(Role.MANAGER))]
SecurityForm = Annotated[Viewer, Depends(form(Role.SECURITY))]
AdminForm = Annotated[Viewer, Depends(form(Role.ADMIN))]
AnyForm = Annotated[Viewer, Depends(form(None))]


def render(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page in the viewer's language, with the menu their roles allow and safe headers."""
    lang = language_of(request)
    nav = [
        (path, key)
        for path, key, roles in NAV
        if viewer is not None and (not roles or any(viewer.may(role) for role in roles))
    ]
    response = web_state(request).templates.TemplateResponse(
        request,
        template,
        {
            "t": Translator(lang),
            "lang": lang,
            "viewer": viewer,
            "nav": nav,
            "here": request.url.path,
            **context,
        },
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(path: str) -> RedirectResponse:
    """After a POST: see the result with a GET (a reload does not post again)."""
    return RedirectResponse(path, status_code=303)


def same_site_path(target: str | None, fallback: str) -> str:
    """`target` when it is a path on this site, else `fallback`: never `//host`, `https://...`
    or a backslash a browser reads as a slash (no open redirect after signing in). The branch's
    and the fleet console's sign-in both check `next` with it."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target
