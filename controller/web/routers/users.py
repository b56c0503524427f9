"""The users page (role admin): add users, set roles, reset passwords, disable; API tokens.

Every change goes through UserAdmin, which checks the rules (password length, the last admin)
and audits it naming `web:<admin>`. A new token's secret is shown on one page, once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from controller.http.deps import Users
from controller.services.passwords import PasswordsBusy
from controller.services.users import MAX_PASSWORD_LENGTH, Role, UserError, UserInputError
from controller.store.users import UserStore
from controller.web.error_pages import busy_page
from controller.web.pages import AdminForm, AdminPage, Conn, redirect, render
from controller.web.sessions import Viewer

router = APIRouter(include_in_schema=False)
DONE = ("added", "roles", "password", "disabled", "enabled", "revoked")
Name = Annotated[str, Form(min_length=1, max_length=64)]
Password = Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)]
RoleList = Annotated[list[str], Form(max_length=3)]


def _page(
    request: Request,
    viewer: Viewer,
    conn,
    status_code: int = 200,
    done: str = "",
    error: str = "",
    error_key: str = "",
) -> Response:
    store = UserStore(conn)
    return render(
        request,
        "users.html",
        viewer,
        status_code=status_code,
        users=store.list(),
        tokens=store.tokens(),
        roles=list(Role),
        done=done if done in DONE else "",
        error=error,
        error_key=error_key,
    )


@router.get("/users")
def users_page(request: Request, viewer: AdminPage, conn: Conn, done: str = "") -> Response:
    return _page(request, viewer, conn, done=done)


def _attempt(request: Request, viewer: Viewer, conn, done: str, change) -> Response:
    """Run one change; a refused one shows its reason on the page (nothing changed)."""
    try:
        change()
    except PasswordsBusy as busy:
        return busy_page(request, viewer, busy)
    except UserInputError as refused:
        return _page(request, viewer, conn, status_code=422, error=str(refused))
    except UserError as refused:
        return _page(request, viewer, conn, status_code=409, error=str(refused))
    return redirect(f"/users?done={done}")


@router.post("/users/add")
def add_user(
    request: Request,
    viewer: AdminForm,
    conn: Conn,
    users: Users,
    username: Name,
    password: Password = "",
    password_again: Password = "",
    roles: RoleList = [],
) -> Response:
    if password != password_again:
        return _page(request, viewer, conn, status_code=422, error_key="users.password_mismatch")
    return _attempt(
        request, viewer, conn, "added", lambda: users.create(username.strip(), password, roles, viewer.actor)
    )


@router.post("/users/roles")
def set_roles(
    request: Request, viewer: AdminForm, conn: Conn, users: Users, username: Name, roles: RoleList = []
) -> Response:
    return _attempt(request, viewer, conn, "roles", lambda: users.set_roles(username, roles, viewer.actor))


@router.post("/users/password")
def reset_password(
    request: Request,
    viewer: AdminForm,
    conn: Conn,
    users: Users,
    username: Name,
    password: Password = "",
    password_again: Password = "",
) -> Response:
    if password != password_again:
        return _page(request, viewer, conn, status_code=422, error_key="users.password_mismatch")
    return _attempt(
        request, viewer, conn, "password", lambda: users.reset_password(username, password, viewer.actor)
    )  # ends the user's sessions and tokens


@router.post("/users/disable")
def disable_user(request: Request, viewer: AdminForm, conn: Conn, users: Users, username: Name) -> Response:
    return _attempt(
        request, viewer, conn, "disabled", lambda: users.set_disabled(username, True, viewer.actor)
    )  # ends the user's sessions and tokens


@router.post("/users/enable")
def enable_user(request: Request, viewer: AdminForm, conn: Conn, users: Users, username: Name) -> Response:
    return _attempt(
        request, viewer, conn, "enabled", lambda: users.set_disabled(username, False, viewer.actor)
    )


@router.post("/tokens/create")
def create_token(
    request: Request,
    viewer: AdminForm,
    conn: Conn,
    users: Users,
    username: Name,
    label: Annotated[str, Form(min_length=1, max_length=64)],
    days: Annotated[str, Form(max_length=8)] = "90",
) -> Response:
    days = days.strip()
    if days and not (days.isdigit() and 1 <= int(days) <= 3650):
        return _page(request, viewer, conn, status_code=422, error_key="tokens.bad_days")
    ttl = timedelta(days=int(days)) if days else None
    try:
        issued = users.create_token(username, label.strip(), viewer.actor, ttl)
    except UserInputError as refused:  # a label with a control or bidi character
        return _page(request, viewer, conn, status_code=422, error=str(refused))
    except UserError as refused:
        return _page(request, viewer, conn, status_code=404, error=str(refused))
    return render(request, "token_created.html", viewer, issued=issued)


@router.post("/tokens/revoke")
def revoke_token(
    request: Request,
    viewer: AdminForm,
    conn: Conn,
    users: Users,
    token_id: Annotated[int, Form(ge=1, le=2**62)],
) -> Response:
    return _attempt(request, viewer, conn, "revoked", lambda: users.revoke_token(token_id, viewer.actor))
