"""Request parameters more than one router takes: an event id in the path, and the event
filters (times with an offset or in branch time). Here, not in the events router, because no
router imports another (the footage routes take the same ids and times).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import HTTPException, Path, Query

from controller.domain.clock import BRANCH_TZ
from controller.domain.days import FIRST_YEAR, LAST_YEAR, YEARS, StrictMoment
from controller.domain.events import EventType
from controller.services.events import MAX_ID
from controller.store.events import EventFilter

EventId = Annotated[int, Path(ge=1, le=MAX_ID, description="An event's id (from the event log).")]


def _moment(value: datetime | None, name: str) -> datetime | None:
    """Aware as given, naive as branch-local; refuses years SQLite and zoneinfo can't take."""
    if value is None:
        return None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise HTTPException(422, f"{name}: use a time between {FIRST_YEAR} and {LAST_YEAR}")
    return value if value.tzinfo and value.utcoffset() is not None else value.replace(tzinfo=BRANCH_TZ)


def event_filters(
    since: Annotated[
        StrictMoment | None,
        Query(
            description=f"From (inclusive); ISO, with offset or local. {YEARS}", examples=["2026-03-29T00:00"]
        ),
    ] = None,
    until: Annotated[StrictMoment | None, Query(description=f"Up to (exclusive). {YEARS}")] = None,
    member: Annotated[str | None, Query(max_length=64, description="Patron id.")] = None,
    types: Annotated[list[EventType], Query(alias="type", description="Repeatable.")] = [],
    reason: Annotated[str | None, Query(max_length=64, examples=["wrong_pin"])] = None,
) -> EventFilter:
    """The query parameters shared by the page and the export."""
    return EventFilter(
        since=_moment(since, "since"),
        until=_moment(until, "until"),
        member_ref=member or None,
        types=tuple(dict.fromkeys(types)),
        reason=reason or None,
    )
