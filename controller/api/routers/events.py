"""The event log (role security): filtered pages with an opaque cursor, and a CSV export.

Times in filters may carry an offset or be local branch time (Europe/Amsterdam); answers
give every event's time in UTC and local. Pages run newest first and never shift: the
cursor is the (time, id) of the last event seen, so new events arriving meanwhile do not
repeat rows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from controller.api.deps import Conn, CurrentUser, Services, require_role
from controller.api.params import event_filters
from controller.api.schemas import TimePoint, error_responses
from controller.domain.clock import to_local
from controller.domain.events import Event, EventType
from controller.services.events import csv_lines, decode_cursor, encode_cursor
from controller.services.lms_access import decided_by_of
from controller.services.offline_policy import DecidedBy
from controller.services.privacy import masked_event
from controller.services.users import Role, effective_roles
from controller.store.events import EventCursor, EventFilter, EventLog

router = APIRouter(
    prefix="/events",
    tags=["events"],
    dependencies=[Depends(require_role(Role.SECURITY))],
    responses=error_responses(401, 403, 422),
)

MAX_PAGE = 500


class EventOut(BaseModel):
    id: int
    at: TimePoint
    type: EventType
    door: str
    reason: str | None
    member_ref: str | None = Field(
        description="Patron id; never a card number. Masked "
        "(`***01`) unless the caller holds the manager role; "
        "`pseudo:...` once pseudonymised ([privacy] member_ref_days)."
    )
    card_hint: str | None = Field(description="Last digits of the card only.")
    actor: str | None = Field(examples=["api:anna.b"])
    detail: str | None
    decided_by: DecidedBy | None = Field(
        description="On a branch linked to its library system, which path decided an access "
        "event: `lms` (its answer), or offline without it: `offline_cache` (a PIN it accepted "
        "lately), `offline_local` (the local list), `offline_deny` (refused). Null otherwise."
    )

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.id,
            at=TimePoint.of(event.at),
            type=event.type,
            door=event.door,
            reason=event.reason,
            member_ref=event.member_ref,
            card_hint=event.card_hint,
            actor=event.actor,
            detail=event.detail,
            decided_by=decided_by_of(event.detail),
        )


class EventPage(BaseModel):
    events: list[EventOut]
    next: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end.")


Where = Annotated[EventFilter, Depends(event_filters)]


@router.get(
    "",
    response_model=EventPage,
    responses=error_responses(400),
    summary="Events, newest first, filtered; follow `next` for older ones",
)
def list_events(
    where: Where,
    conn: Conn,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64, description="`next` of the previous page.")] = None,
) -> EventPage:
    before = decode_cursor(cursor) if cursor else None
    found = EventLog(conn).query(where, limit=limit + 1, before=before)
    page = found[:limit]
    more = len(found) > limit
    if _masked(user):
        page = [masked_event(e) for e in page]
    return EventPage(
        events=[EventOut.of(e) for e in page],
        next=encode_cursor(EventCursor.after(page[-1])) if more else None,
    )


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={
        **error_responses(400),
        200: {
            "description": "CSV (UTF-8 with BOM, `;`-separated), newest first.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
    summary="The same filters as a CSV download (streamed)",
)
def export_events(where: Where, services: Services, user: CurrentUser) -> StreamingResponse:
    stamp = to_local(services.runtime.clock()).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        csv_lines(services.runtime, where, _masked(user)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="events-{stamp}.csv"'},
    )


def _masked(user: CurrentUser) -> bool:
    """Patron ids are for the manager role (who answers a member's data request); security
    alone sees them masked (docs/privacy.md)."""
    return Role.MANAGER not in effective_roles(user.roles)
