"""The entries page (role security): the event log with filters, pages, clips and CSV export.

A clip plays in the page: the <video> element loads it from /entries/{id}/video, which
Starlette's FileResponse serves with HTTP Range support (seeking works); for an event inside
a longer segment the src carries a #t= media fragment so playback starts at the event.
Recorded files are served as the footage service's WebM copy (made on first view), which
<video> plays. The CSV export is the API's own generator, so both give the same file.

On a branch linked to its library system, an entry decided without it (the offline policy:
cached PIN, local list, or refused) is marked with the path, and `offline=1` shows only those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from controller.domain.clock import BRANCH_TZ, to_local
from controller.domain.days import iso_day
from controller.domain.decision import Reason
from controller.domain.events import Event, EventType
from controller.services.events import MAX_ID, BadCursor, csv_lines, decode_cursor, encode_cursor
from controller.services.footage import CLIP_EVENTS, FootageLocation
from controller.services.lms_access import decided_by_of
from controller.services.lms_overview import decided_offline
from controller.services.privacy import masked_event
from controller.services.users import Role
from controller.store.events import EventCursor, EventFilter, EventLog
from controller.web.pages import Conn, PageNotFound, SecurityPage, render, services_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
RESULT_TYPES = {
    "granted": (EventType.ACCESS_GRANTED,),
    "refused": (EventType.ACCESS_REFUSED,),
    "alarms": (EventType.DOOR_FORCED, EventType.DOOR_HELD_OPEN, EventType.ALARM),
}
REASONS = tuple(reason.value for reason in Reason)


@dataclass(frozen=True)
class EntryFilters:
    """The filter form as typed, and the EventFilter it means (dates are branch-local days)."""

    start: str = ""
    end: str = ""
    member: str = ""
    result: str = ""
    reason: str = ""
    offline: str = ""  # "1": only entries decided without the library system

    def bad_dates(self) -> list[str]:
        return [
            name
            for name, value in (("start", self.start), ("end", self.end))
            if value and _day(value) is None
        ]

    def event_filter(self) -> EventFilter:
        start, end = _day(self.start), _day(self.end)
        where = EventFilter(
            since=datetime.combine(start, time(0), tzinfo=BRANCH_TZ) if start else None,
            until=datetime.combine(end + timedelta(days=1), time(0), tzinfo=BRANCH_TZ) if end else None,
            member_ref=self.member.strip() or None,
            types=RESULT_TYPES.get(self.result, ()),
            reason=self.reason if self.reason in REASONS else None,
        )
        return decided_offline(where) if self.offline else where

    def query(self, **extra: str) -> str:
        values = {
            k: v
            for k, v in (
                ("start", self.start),
                ("end", self.end),
                ("member", self.member),
                ("result", self.result),
                ("reason", self.reason),
                ("offline", self.offline),
                *extra.items(),
            )
            if v
        }
        return urlencode(values)


def _day(text: str) -> date | None:
    return iso_day(text)  # YYYY-MM-DD in the years the API takes, or None


def _filters(
    start: str = "", end: str = "", member: str = "", result: str = "", reason: str = "", offline: str = ""
) -> EntryFilters:
    return EntryFilters(start[:10], end[:10], member[:64], result[:16], reason[:32], "1" if offline else "")


def offline_marks(rows: list[Event]) -> dict[int, str]:
    """Event id -> the catalog key saying which offline path decided it, for the entries
    decided without the library system (the others get no mark)."""
    marks = {}
    for event in rows:
        path = decided_by_of(event.detail)
        if path is not None and path.offline and event.id is not None:
            marks[event.id] = f"entries.decided.{path.value}"
    return marks


def _entry_id(event_id: int) -> int:
    """The id in the address, or the not-found page: an id SQLite cannot hold names no entry
    (it once overflowed the query into a 500)."""
    if not 1 <= event_id <= MAX_ID:
        raise PageNotFound()
    return event_id


EntryId = Annotated[int, Depends(_entry_id)]


def _clip(request: Request, event_id: int) -> FootageLocation | None:
    footage = services_of(request).footage
    return footage.clip_for_event(event_id) if footage is not None else None


@router.get("/entries")
def entries_page(
    request: Request,
    viewer: SecurityPage,
    conn: Conn,
    start: str = "",
    end: str = "",
    member: str = "",
    result: str = "",
    reason: str = "",
    offline: str = "",
    cursor: str = "",
) -> Response:
    filters = _filters(start, end, member, result, reason, offline)
    before: EventCursor | None = None
    if cursor:
        try:
            before = decode_cursor(cursor[:64])
        except BadCursor:
            before = None
    bad = filters.bad_dates()
    found = [] if bad else EventLog(conn).query(filters.event_filter(), limit=PAGE_SIZE + 1, before=before)
    rows = found[:PAGE_SIZE] if viewer.may(Role.MANAGER) else [masked_event(e) for e in found[:PAGE_SIZE]]
    older = (
        filters.query(cursor=encode_cursor(EventCursor.after(rows[-1]))) if len(found) > PAGE_SIZE else None
    )
    footage = services_of(request).footage
    with_clip = (
        footage.events_with_footage([e.id for e in rows if e.type in CLIP_EVENTS and e.id is not None])
        if footage
        else set()
    )
    return render(
        request,
        "entries.html",
        viewer,
        status_code=422 if bad else 200,
        filters=filters,
        bad=bad,
        rows=rows,
        older=older,
        first_page=cursor != "",
        with_clip=with_clip,
        offline=offline_marks(rows),
        reasons=REASONS,
        export=filters.query(),
        newest=filters.query(),
    )


@router.get("/entries/export.csv")
def export_entries(
    request: Request,
    viewer: SecurityPage,
    start: str = "",
    end: str = "",
    member: str = "",
    result: str = "",
    reason: str = "",
    offline: str = "",
) -> Response:
    filters = _filters(start, end, member, result, reason, offline)
    runtime = services_of(request).runtime
    stamp = to_local(runtime.clock()).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        csv_lines(runtime, filters.event_filter(), not viewer.may(Role.MANAGER)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="events-{stamp}.csv"'},
    )


@router.get("/entries/{event_id}")
def entry_page(request: Request, viewer: SecurityPage, conn: Conn, event_id: EntryId) -> Response:
    event = EventLog(conn).get(event_id)
    if event is None:
        raise PageNotFound()
    location = _clip(request, event_id)
    fragment = f"#t={location.offset_seconds:.1f}" if location and location.offset_seconds > 0 else ""
    if not viewer.may(Role.MANAGER):  # patron ids are the manager's (docs/privacy.md)
        event = masked_event(event)
    return render(
        request,
        "entry.html",
        viewer,
        event=event,
        location=location,
        video_src=f"/entries/{event_id}/video{fragment}" if location else None,
    )


@router.get("/entries/{event_id}/video")
def entry_video(request: Request, viewer: SecurityPage, event_id: EntryId) -> Response:
    footage = services_of(request).footage
    location = _clip(request, event_id)
    if footage is None or location is None or not location.path.is_file():
        raise PageNotFound()
    # OpenCV's mp4v/MJPG get a WebM copy, made once; stream-copied H.264 MP4 plays as it is.
    video = footage.browser_copy(location.path)
    return FileResponse(
        video,
        media_type="video/mp4" if video.suffix == ".mp4" else "video/webm",
        headers={"Cache-Control": "private, max-age=300"},
        content_disposition_type="inline",
    )
