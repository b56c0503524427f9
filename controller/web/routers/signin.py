"""Sign in, sign out and the language switch: the only pages that need no session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from controller.http.deps import Users
from controller.services.login_throttle import SignInPaused, client_address
from controller.services.passwords import PasswordsBusy
from controller.services.users import MAX_PASSWORD_LENGTH
from controller.web.csrf import check_signin_form, remember_signin_token, signin_token
from controller.web.error_pages import busy_page
from controller.web.i18n import LANG_COOKIE, LANGUAGES
from controller.web.pages import AnyForm, Conn, redirect, render, same_site_path, services_of
from controller.web.sessions import SESSION_COOKIE, Sessions, clear_session_cookie, set_session_cookie

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `https://...` (no open redirect)."""
    return same_site_path(target, "/today")


@router.get("/")
def home() -> RedirectResponse:
    return redirect("/today")


@router.get("/signin")
def signin_page(request: Request, next: str = "/today", out: bool = False) -> Response:
    return _signin_form(request, safe_next(next), signed_out=out)


def _signin_form(
    request: Request,
    next: str,
    failed: bool = False,
    signed_out: bool = False,
    username: str = "",
    paused_minutes: int | None = None,
) -> Response:
    token = signin_token(request)
    status_code = 429 if paused_minutes else 401 if failed else 200
    response = render(
        request,
        "signin.html",
        None,
        status_code=status_code,
        signin_token=token,
        next=next,
        failed=failed,
        signed_out=signed_out,
        username=username,
        paused_minutes=paused_minutes,
    )
    remember_signin_token(request, response, token)
    return response


@router.post("/signin", dependencies=[Depends(check_signin_form)])
def sign_in(
    request: Request,
    conn: Conn,
    users: Users,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/today",
) -> Response:
    services = services_of(request)
    try:
        user = users.check_sign_in(
            username.strip(), password, client_address(request), services.login_throttle, via="web"
        )
    except SignInPaused as paused:
        minutes = -(-paused.retry_after(services.runtime.clock()) // 60)
        return _signin_form(request, safe_next(next), paused_minutes=minutes, username=username)
    except PasswordsBusy as busy:
        return busy_page(request, None, busy)
    if user is None:
        return _signin_form(request, safe_next(next), failed=True, username=username)
    secret = Sessions(conn, services.runtime.clock).start(user)
    response = redirect(safe_next(next))
    set_session_cookie(response, request, secret)
    return response


@router.post("/signout")
def sign_out(request: Request, viewer: AnyForm, conn: Conn) -> Response:
    Sessions(conn, services_of(request).runtime.clock).end(request.cookies.get(SESSION_COOKIE))
    response = redirect("/signin?out=1")
    clear_session_cookie(response, request)
    return response


@router.get("/lang")
def switch_language(request: Request, to: str = "nl", next: str = "/today") -> Response:
    """A preference only (no data changes), so a plain link may set it."""
    response = redirect(safe_next(next))
    if to in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            to,
            max_age=365 * 24 * 3600,
            path="/",
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
