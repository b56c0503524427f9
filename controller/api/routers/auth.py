"""POST /api/v1/auth/token (username + password -> short-lived bearer token) and GET /auth/me.

The login route is necessarily open (it is how a token is obtained); everything else here
needs a valid token. Credentials come as JSON or as an HTML/OAuth2-style form.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from controller.api.deps import BUSY_RESPONSE, CurrentUser, Services, Users, busy_is_503, current_user
from controller.api.schemas import TimePoint, UserOut, error_responses
from controller.services.login_throttle import SignInPaused, client_address
from controller.services.users import MAX_PASSWORD_LENGTH

public_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(
    prefix="/auth", tags=["auth"], dependencies=[Depends(current_user)], responses=error_responses(401)
)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, examples=["anna.b"])
    password: str = Field(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        json_schema_extra={"writeOnly": True, "format": "password"},
    )


class LoginOut(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = "bearer"
    token_id: int
    expires_at: TimePoint | None


_LOGIN_SCHEMA = LoginIn.model_json_schema()
_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _LOGIN_SCHEMA},
            "application/x-www-form-urlencoded": {"schema": _LOGIN_SCHEMA},
        },
    }
}


async def read_credentials(request: Request) -> LoginIn:
    """Username + password from a JSON body or a form; 415 for anything else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: Any
    if content_type == "application/json":
        try:
            raw = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "not valid JSON", "type": "json_invalid"}]
            ) from None
    elif content_type in _FORM_TYPES:
        form = await request.form()
        raw = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send username and password as JSON or as a form"
        )
    try:
        return LoginIn.model_validate(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        ) from None


@public_router.post(
    "/token",
    response_model=LoginOut,
    openapi_extra=_LOGIN_BODY,
    responses={**error_responses(400, 401, 413, 415, 422, 429), **BUSY_RESPONSE},
    summary="Log in: a bearer token for a username and password (expires after 12 h by default)",
    description="After 5 wrong passwords for one username, or 20 from one address, within "
    "15 minutes, logins are refused with 429 and a Retry-After header; the pause "
    "starts at 30 s and doubles with every further wrong password, up to 15 minutes. "
    "When too many passwords are being checked at once: 503 with Retry-After.",
)
def issue_login_token(
    request: Request,
    credentials: Annotated[LoginIn, Depends(read_credentials)],
    services: Services,
    users: Users,
) -> LoginOut:
    try:
        with busy_is_503():
            issued = users.login(
                credentials.username,
                credentials.password,
                client_address(request),
                services.login_throttle,
                services.login_token_ttl,
            )
    except SignInPaused as paused:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many wrong passwords: wait and try again",
            headers={"Retry-After": str(paused.retry_after(services.runtime.clock()))},
        ) from None
    if issued is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    return LoginOut(
        access_token=issued.secret,
        token_id=issued.token.id,
        expires_at=TimePoint.maybe(issued.token.expires_at),
    )


@router.get("/me", response_model=UserOut, summary="Who this token belongs to, and its roles")
def who_am_i(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
