"""Request dependencies of the API: the bearer user and roles (the services, the per-request
connection and the use cases are controller/http/deps.py's, shared with the pages).

Routers put `require_role(...)` in their own `dependencies=`, so every route behind them is
checked; routes that need the name of who acts ask for `Actor` (cached per request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controller.api.schemas import ErrorOut
from controller.http.deps import Conn, Members, Services, Users
from controller.services.passwords import PasswordsBusy
from controller.services.users import Role, effective_roles
from controller.store.users import User

__all__ = [
    "BUSY_RESPONSE",
    "Actor",
    "Conn",
    "CurrentUser",
    "Members",
    "Services",
    "Users",
    "busy_is_503",
    "require_role",
]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from POST /api/v1/auth/token or one an admin created (POST /api/v1/tokens).",
)


def current_user(
    users: Users,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    """The enabled user behind `Authorization: Bearer <token>`, else 401."""
    user = users.authenticate(credentials.credentials) if credentials else None
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing, unknown or expired bearer token" if credentials else "bearer token required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(role: Role) -> Callable[[User], User]:
    """A dependency refusing (403) users whose roles do not include `role` (admin has all)."""

    def check(user: CurrentUser) -> User:
        if role not in effective_roles(user.roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
        return user

    check.__name__ = f"require_{role}"
    return check


def actor_name(user: CurrentUser) -> str:
    """How audit events name the caller."""
    return f"api:{user.username}"


Actor = Annotated[str, Depends(actor_name)]


BUSY_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorOut,
        "description": "Too many passwords are being checked "
        "at once: try again after the seconds in Retry-After.",
    }
}


@contextmanager
def busy_is_503() -> Iterator[None]:
    """Around a route that hashes a password: all hash slots busy -> 503 with Retry-After."""
    try:
        yield
    except PasswordsBusy as busy:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(busy), headers={"Retry-After": str(busy.retry_after)}
        ) from None
