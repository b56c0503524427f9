"""The 405 answer's Allow header, the same for the API and the pages."""

from __future__ import annotations

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.routing import Match

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route at this request's path takes.

    Routing stops at the first route whose path matches, and its 405 named that route's
    method only, though /members takes GET and POST (one route each). Asking the app's routes
    whether each method would match fully needs nothing but Starlette's public matching.
    """
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def http_error_headers(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    """The error's own headers; for a 405, an Allow listing every method the path takes."""
    headers = getattr(exc, "headers", None)
    if exc.status_code != 405:
        return headers
    methods = allowed_methods(request)
    return {**(headers or {}), "Allow": ", ".join(methods)} if methods else headers
