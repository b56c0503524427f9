"""Users and API tokens (role admin): create, set roles, reset password, disable; tokens.

Every change is an ADMIN_CHANGE event naming the admin (done in controller.services.users).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, Field

from controller.api.deps import BUSY_RESPONSE, Actor, Conn, Users, busy_is_503, require_role
from controller.api.schemas import TimePoint, UserOut, error_responses
from controller.domain.text import PlainText
from controller.services.users import (
    MAX_LABEL_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    USERNAME_RE,
    IssuedToken,
    Role,
    UnknownUser,
)
from controller.store.users import ApiToken, UserStore

_ADMIN = [Depends(require_role(Role.ADMIN))]
_COMMON = error_responses(400, 401, 403, 422)
router = APIRouter(prefix="/users", tags=["users"], dependencies=_ADMIN, responses=_COMMON)
tokens_router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=_ADMIN, responses=_COMMON)

Username = Annotated[str, Path(max_length=64, description="The user's login name.")]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        json_schema_extra={"writeOnly": True, "format": "password"},
    ),
]


class UserIn(BaseModel):
    username: str = Field(pattern=f"^{USERNAME_RE.pattern}$", examples=["anna.b"])
    password: Password
    roles: list[Role] = Field(min_length=1, max_length=3, examples=[["manager"]])


class RolesIn(BaseModel):
    roles: list[Role] = Field(min_length=1, max_length=3, examples=[["security"]])


class PasswordIn(BaseModel):
    password: Password


class TokenOut(BaseModel):
    id: int
    username: str
    label: str
    created_at: TimePoint
    expires_at: TimePoint | None
    last_used_at: TimePoint | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            username=token.username,
            label=token.label,
            created_at=TimePoint.of(token.created_at),
            expires_at=TimePoint.maybe(token.expires_at),
            last_used_at=TimePoint.maybe(token.last_used_at),
        )


class TokenIn(BaseModel):
    username: str = Field(max_length=64, description="Whose roles the token carries.")
    label: PlainText = Field(min_length=1, max_length=MAX_LABEL_LENGTH, examples=["door display"])
    expires_in_days: int | None = Field(90, ge=1, le=3650, description="null: never expires.")


class TokenCreatedOut(BaseModel):
    token: str = Field(description="The secret: shown this once, stored only as a SHA-256 hash.")
    info: TokenOut

    @classmethod
    def of(cls, issued: IssuedToken) -> TokenCreatedOut:
        return cls(token=issued.secret, info=TokenOut.of(issued.token))


@router.get("", response_model=list[UserOut], summary="All users")
def list_users(conn: Conn) -> list[UserOut]:
    return [UserOut.of(user) for user in UserStore(conn).list()]


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={**error_responses(409, 413), **BUSY_RESPONSE},
    summary="Create a user",
)
def create_user(body: UserIn, users: Users, actor: Actor) -> UserOut:
    with busy_is_503():
        return UserOut.of(users.create(body.username, body.password, body.roles, actor))


@router.get("/{username}", response_model=UserOut, responses=error_responses(404), summary="One user")
def get_user(username: Username, conn: Conn) -> UserOut:
    user = UserStore(conn).get(username)
    if user is None:
        raise UnknownUser(f"no user {username}")
    return UserOut.of(user)


@router.put(
    "/{username}/roles",
    response_model=UserOut,
    responses=error_responses(404, 409, 413),
    summary="Replace a user's roles (the last enabled admin keeps admin)",
)
def set_roles(username: Username, body: RolesIn, users: Users, actor: Actor) -> UserOut:
    return UserOut.of(users.set_roles(username, body.roles, actor))


@router.put(
    "/{username}/password",
    response_model=UserOut,
    responses={**error_responses(404, 413), **BUSY_RESPONSE},
    summary="Reset a password; all the user's tokens and web sessions end",
)
def reset_password(username: Username, body: PasswordIn, users: Users, actor: Actor) -> UserOut:
    with busy_is_503():
        return UserOut.of(users.reset_password(username, body.password, actor))


@router.post(
    "/{username}/disable",
    response_model=UserOut,
    responses=error_responses(404, 409),
    summary="Disable a user: their tokens and web sessions end at once",
)
def disable_user(username: Username, users: Users, actor: Actor) -> UserOut:
    return UserOut.of(users.set_disabled(username, True, actor))


@router.post(
    "/{username}/enable",
    response_model=UserOut,
    responses=error_responses(404),
    summary="Enable a disabled user again",
)
def enable_user(username: Username, users: Users, actor: Actor) -> UserOut:
    return UserOut.of(users.set_disabled(username, False, actor))


@tokens_router.get("", response_model=list[TokenOut], summary="Tokens (never their secrets)")
def list_tokens(conn: Conn, username: Annotated[str | None, Query(max_length=64)] = None) -> list[TokenOut]:
    return [TokenOut.of(token) for token in UserStore(conn).tokens(username)]


@tokens_router.post(
    "",
    response_model=TokenCreatedOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 413),
    summary="Create an API token (shown once)",
)
def create_token(body: TokenIn, users: Users, actor: Actor) -> TokenCreatedOut:
    ttl = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    return TokenCreatedOut.of(users.create_token(body.username, body.label, actor, ttl))


@tokens_router.delete(
    "/{token_id}", response_model=TokenOut, responses=error_responses(404), summary="Revoke a token"
)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**62)], users: Users, actor: Actor) -> TokenOut:
    return TokenOut.of(users.revoke_token(token_id, actor))
