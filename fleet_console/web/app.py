"""The console's web app: its pages, the branch's stylesheet, friendly error pages."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from controller.web import STATIC_DIR
from controller.web.csrf import CsrfRefused
from controller.web.pages import new_templates
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.web.pages import TEMPLATES_DIR, PageForbidden, PageNotFound, SignInRequired, render
from fleet_console.web.routers import commands, log, overview, send, signin

MAX_BODY_BYTES = 1024 * 1024  # the largest form is the block list (512 KiB of text)
ROUTERS = (signin.router, overview.router, log.router, send.router, commands.router)


def create_console_app(console: ConsoleRuntime) -> FastAPI:
    app = FastAPI(
        title="openplus-door fleet console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.console = console
    app.state.templates = new_templates(TEMPLATES_DIR)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _install_error_pages(app)
    return app


def _error(request: Request, status_code: int, title: str, text: str) -> Response:
    return render(request, "error.html", None, status_code, title=title, text=text)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return _error(request, 403, "Not allowed", f"This page needs the {exc.role} role.")

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return _error(
            request, 403, "Form refused", "The form's security token is missing or old: reload the page."
        )

    @app.exception_handler(PageNotFound)
    async def not_found(request: Request, exc: PageNotFound) -> Response:
        return _error(request, 404, "Not found", "There is nothing here.")

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({str(error["loc"][-1]) for error in exc.errors() if error.get("loc")})
        return _error(request, 422, "Bad request", f"Check these fields: {', '.join(fields) or '-'}.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error(request, 404, "Not found", "There is nothing here.")
        return _error(request, exc.status_code, "Request refused", f"HTTP {exc.status_code}: {exc.detail}")
