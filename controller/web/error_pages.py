"""Friendly error pages: no session (redirect), wrong role, a refused or malformed form, not found.

The pages share one app with the JSON API, so the request-validation and HTTP error handlers
are shared too: a request to a page route (they are left out of the OpenAPI schema), or one
from a browser to no route at all, gets a page; every other request keeps the API's JSON.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from controller.http.allow import http_error_headers
from controller.services.passwords import PasswordsBusy
from controller.web.csrf import CsrfRefused
from controller.web.pages import PageForbidden, PageNotFound, SignInRequired, render, services_of
from controller.web.sessions import SESSION_COOKIE, Sessions, Viewer

Handler = Callable[[Request, Any], Awaitable[Response]]
# What app.exception_handlers holds: Starlette allows plain functions as well as coroutines.
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def install_error_pages(app: FastAPI) -> None:
    """Add the page handlers; call after the API's own handlers are installed.

    The handlers are registered with FastAPI's `exception_handler` decorator: its type accepts a
    handler for one exception class, where `add_exception_handler` wants one for any Exception."""

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        if request.url.path.endswith(".json"):
            return Response('{"detail": "sign in first"}', 401, media_type="application/json")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return _error_page(request, 403, "error.forbidden.title", "error.forbidden.text", role=str(exc.role))

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return _error_page(request, 403, "error.csrf.title", "error.csrf.text")

    @app.exception_handler(PageNotFound)
    async def not_found(request: Request, exc: PageNotFound) -> Response:
        return _error_page(request, 404, "error.not_found", "error.not_found")

    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({str(error["loc"][-1]) for error in exc.errors() if error.get("loc")})
        return _error_page(
            request, 422, "error.bad_form.title", "error.bad_form.text", fields=", ".join(fields) or "-"
        )

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error_page(request, 404, "error.not_found", "error.not_found")
        page = _error_page(
            request, exc.status_code, "error.http.title", "error.http.text", status=exc.status_code
        )
        page.headers.update(http_error_headers(request, exc) or {})  # a 405's Allow, say
        return page

    for error, page_handler in ((RequestValidationError, bad_form), (StarletteHTTPException, http_error)):
        app.add_exception_handler(error, _pages_or_api(page_handler, app.exception_handlers[error]))


def _pages_or_api(page_handler: Handler, api_handler: AnyHandler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if _wants_a_page(request):
            return await page_handler(request, exc)
        response = api_handler(request, exc)
        return await response if inspect.isawaitable(response) else response

    return handle


def _wants_a_page(request: Request) -> bool:
    route = request.scope.get("route")
    if route is not None:
        return not getattr(route, "include_in_schema", True)  # the page routers' mark
    return "text/html" in request.headers.get("accept", "")  # no route: a browser, or an API client


def busy_page(request: Request, viewer: Viewer | None, busy: PasswordsBusy) -> Response:
    """503 'busy, try again in N seconds' when every password-hash slot stayed taken (the
    form's input is not kept: nothing was checked or changed). The sign-in and users pages
    both answer with it."""
    response = render(
        request,
        "error.html",
        viewer,
        status_code=503,
        title_key="error.busy.title",
        message_key="error.busy.text",
        values={"seconds": busy.retry_after},
    )
    response.headers["Retry-After"] = str(busy.retry_after)
    return response


def _error_page(
    request: Request, status_code: int, title_key: str, message_key: str, **values: Any
) -> Response:
    return render(
        request,
        "error.html",
        _viewer_or_none(request),
        status_code=status_code,
        title_key=title_key,
        message_key=message_key,
        values=values,
    )


def _viewer_or_none(request: Request) -> Viewer | None:
    """For the menu of an error page only."""
    conn = services_of(request).runtime.connection()
    try:
        return Sessions(conn, services_of(request).runtime.clock).resolve(request.cookies.get(SESSION_COOKIE))
    finally:
        conn.close()
