"""CSRF protection for every form: a hidden `csrf_token` field checked on every POST.

Signed-in forms carry the session's own token (stored with the session). The sign-in form has
no session yet, so it uses a double-submit token: the same random value in a short-lived
HttpOnly cookie and in the hidden field. SameSite=Lax cookies are a second line, not the only one.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from controller.web.sessions import Viewer, is_https

CSRF_FIELD = "csrf_token"
SIGNIN_COOKIE = "opd_signin_csrf"
SIGNIN_COOKIE_SECONDS = 2 * 3600


class CsrfRefused(Exception):
    """A POST without the form's token, or with a wrong one; answered 403, nothing done."""


def tokens_match(expected: str | None, given: object) -> bool:
    """Constant-time comparison; anything but a non-empty string never matches."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


async def submitted_token(request: Request) -> object:
    """The hidden field of a urlencoded or multipart form (Starlette caches the parsed form)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    form = await request.form()
    return form.get(CSRF_FIELD)


async def check_session_form(request: Request, viewer: Viewer) -> None:
    """Raise CsrfRefused unless the form carries this session's token."""
    if not tokens_match(viewer.csrf_token, await submitted_token(request)):
        raise CsrfRefused("the form's security token is missing or wrong")


def signin_token(request: Request) -> str:
    """The token for a sign-in form: the one in its cookie while that lasts, else a new one."""
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)


def remember_signin_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=SIGNIN_COOKIE_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


async def check_signin_form(request: Request) -> None:
    if not tokens_match(request.cookies.get(SIGNIN_COOKIE), await submitted_token(request)):
        raise CsrfRefused("the sign-in form's security token is missing or wrong")
