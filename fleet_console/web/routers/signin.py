"""Sign in and out of the console: the branch's password check, throttle and sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from controller.services.login_throttle import SignInPaused, client_address
from controller.services.passwords import PasswordsBusy
from controller.services.users import MAX_PASSWORD_LENGTH
from controller.web.csrf import check_signin_form, remember_signin_token, signin_token
from controller.web.pages import same_site_path
from controller.web.sessions import SESSION_COOKIE, Sessions, clear_session_cookie, set_session_cookie
from fleet_console.web.pages import AnyForm, Conn, Console, redirect, render

router = APIRouter(include_in_schema=False)
HOME = "/overview"


def safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect)."""
    return same_site_path(target, HOME)


@router.get("/")
def home() -> RedirectResponse:
    return redirect(HOME)


def _form(request: Request, next: str, status_code: int = 200, **context: object) -> Response:
    token = signin_token(request)
    response = render(request, "signin.html", None, status_code, signin_token=token, next=next, **context)
    remember_signin_token(request, response, token)
    return response


@router.get("/signin")
def signin_page(request: Request, next: str = HOME, out: bool = False) -> Response:
    return _form(request, safe_next(next), signed_out=out)


@router.post("/signin", dependencies=[Depends(check_signin_form)])
def sign_in(
    request: Request,
    console: Console,
    conn: Conn,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    try:
        user = console.users(conn).check_sign_in(
            username.strip(), password, client_address(request), console.throttle, via="console"
        )
    except SignInPaused as paused:
        minutes = -(-paused.retry_after(console.clock()) // 60)
        return _form(request, safe_next(next), 429, problem=f"Too many wrong passwords: wait {minutes} min.")
    except PasswordsBusy:
        return _form(request, safe_next(next), 503, problem="Busy checking other passwords: try again.")
    if user is None:
        return _form(request, safe_next(next), 401, problem="Wrong username or password.", username=username)
    response = redirect(safe_next(next))
    set_session_cookie(response, request, Sessions(conn, console.clock).start(user))
    return response


@router.post("/signout")
def sign_out(request: Request, viewer: AnyForm, console: Console, conn: Conn) -> Response:
    Sessions(conn, console.clock).end(request.cookies.get(SESSION_COOKIE))
    response = redirect("/signin?out=1")
    clear_session_cookie(response, request)
    return response
