"""Response pieces shared by the routers: times in both zones, a user, and the one error body
(here, not in a router: no router imports another)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from controller.domain.clock import to_local, to_utc
from controller.services.users import Role, effective_roles
from controller.store.users import User


class TimePoint(BaseModel):
    """One moment, as stored (UTC) and as the branch's clock shows it (Europe/Amsterdam)."""

    utc: datetime = Field(description="ISO 8601 in UTC.", examples=["2026-03-29T05:00:00Z"])
    local: datetime = Field(
        description="ISO 8601 in Europe/Amsterdam, with its offset.", examples=["2026-03-29T07:00:00+02:00"]
    )

    @classmethod
    def of(cls, moment: datetime) -> TimePoint:
        return cls(utc=to_utc(moment), local=to_local(moment))

    @classmethod
    def maybe(cls, moment: datetime | None) -> TimePoint | None:
        return cls.of(moment) if moment is not None else None


class UserOut(BaseModel):
    """A user as /users and /auth/me show them (never a password hash)."""

    username: str
    roles: list[Role] = Field(description="Roles as given.")
    effective_roles: list[Role] = Field(description="What they allow (admin implies all).")
    disabled: bool
    created_at: TimePoint

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            username=user.username,
            roles=sorted(Role(r) for r in user.roles if r in set(Role)),
            effective_roles=sorted(effective_roles(user.roles)),
            disabled=user.disabled,
            created_at=TimePoint.of(user.created_at),
        )


class RowProblem(BaseModel):
    line: int = Field(description="Line in the uploaded file; 1 is the header.")
    reason: str


class ErrorOut(BaseModel):
    """Every 4xx/5xx answer: a message, plus the full list when there are several problems."""

    detail: str = Field(examples=["the request is not valid"])
    problems: list[str] = Field(
        default_factory=list, examples=[["monday: 12:00-14:00 openplus overlaps 09:00-13:00 staffed"]]
    )
    rows: list[RowProblem] = Field(
        default_factory=list, description="For a refused member import: every bad row."
    )


_DESCRIPTIONS = {
    400: "Bad request: an unreadable body or paging cursor.",
    401: "No valid bearer token.",
    403: "The token's user lacks the role for this route.",
    404: "Not found.",
    409: "The change conflicts with what is stored.",
    413: "The request body is too large (over 1 MiB; the member import takes up to 20 MB): "
    "the plain text `Content Too Large`, or the usual error body.",
    415: "Unsupported content type.",
    422: "The request is not valid; `problems` (or `rows`) says why.",
    429: "Too many wrong passwords: wait for the seconds in Retry-After.",
    503: "The door is not running.",
}


# The body-size limit (FastAPI's `max_body_size`) mostly answers itself, with Starlette's plain
# text, before any handler of ours runs; a body that only runs over inside a route gets ErrorOut.
_TOO_LARGE_AS_TEXT = {"text/plain": {"schema": {"type": "string"}, "example": "Content Too Large"}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error codes, all with the ErrorOut body (413 also as
    plain text). Every route that takes a body lists 413."""
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes
    }
    if 413 in responses:
        responses[413]["content"] = dict(_TOO_LARGE_AS_TEXT)
    return responses
