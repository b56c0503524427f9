"""Camera footage (role security): segments, the clip of an event, keep marks for incidents.

Video is served as a file response, which answers HTTP Range requests, so a browser's video
player can seek. Keep marks are audited (ADMIN_CHANGE naming who set them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from controller.api.deps import Actor, Conn, Services, require_role
from controller.api.params import EventId, event_filters
from controller.api.schemas import TimePoint, error_responses
from controller.domain.days import YEARS, StrictDay, StrictMoment
from controller.http.services import ApiServices
from controller.services.events import MAX_ID
from controller.services.footage import ClipNotFound, FootageService
from controller.services.users import Role
from controller.store.codec import from_ms, to_ms
from controller.store.footage import FootageStore, SegmentRow

router = APIRouter(
    prefix="/footage",
    tags=["footage"],
    dependencies=[Depends(require_role(Role.SECURITY))],
    responses=error_responses(401, 403, 404, 422),
)

SegmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="A segment's id (from /segments).")]
VIDEO_TYPES = {".mp4": "video/mp4", ".avi": "video/x-msvideo", ".webm": "video/webm"}


class SegmentOut(BaseModel):
    id: int
    start: TimePoint
    end: TimePoint
    frames: int
    bytes: int
    video_url: str = Field(examples=["/api/v1/footage/segments/12/video"])

    @classmethod
    def of(cls, row: SegmentRow) -> SegmentOut:
        assert row.end_ms is not None
        return cls(
            id=row.id,
            start=TimePoint.of(from_ms(row.start_ms)),
            end=TimePoint.of(from_ms(row.end_ms)),
            frames=row.frames,
            bytes=row.bytes,
            video_url=f"/api/v1/footage/segments/{row.id}/video",
        )


class EventFootageOut(BaseModel):
    event_id: int
    kind: Literal["clip", "segment"] = Field(description="The event's own clip, or the segment covering it.")
    start: TimePoint
    end: TimePoint
    offset_seconds: float = Field(description="Where the event is, from the start of the video.")
    video_url: str = Field(examples=["/api/v1/footage/events/42/video"])
    browser_video_url: str = Field(
        description="The same video as WebM, which a browser's <video> plays (made on first ask).",
        examples=["/api/v1/footage/events/42/video.webm"],
    )


class KeepIn(BaseModel):
    until: StrictDay = Field(
        description=f"Keep the clip up to and including this day, YYYY-MM-DD, today or later. {YEARS}",
        examples=["2026-12-31"],
    )
    note: str = Field("", max_length=500, description="Why (incident number, ...).")


def _footage(services: ApiServices) -> FootageService:
    """The footage use cases, or 404 when this door has no camera. Called in the route, not
    as a dependency, so a request that is not valid gets its 422 first, camera or not."""
    if services.footage is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this door has no camera")
    return services.footage


def _video(path) -> FileResponse:
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the video file is gone (retention or quota)")
    return FileResponse(path, media_type=VIDEO_TYPES.get(path.suffix, "application/octet-stream"))


_VIDEO_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The video; Range requests give 206.",
        "content": {"video/mp4": {}, "video/x-msvideo": {}, "video/webm": {}},
    }
}


@router.get("/segments", response_model=list[SegmentOut], summary="Recorded segments, newest first")
def list_segments(
    services: Services,
    conn: Conn,
    since: Annotated[
        StrictMoment | None,
        Query(description=f"Default: a day before `until`. ISO, with offset or local. {YEARS}"),
    ] = None,
    until: Annotated[StrictMoment | None, Query(description=f"Default: now. {YEARS}")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SegmentOut]:
    _footage(services)
    where = event_filters(since=since, until=until)  # same time parsing as the event log
    end = where.until or services.runtime.clock()
    start = where.since or end - timedelta(days=1)
    rows = FootageStore(conn).segments_between(to_ms(start), to_ms(end), limit)
    return [SegmentOut.of(row) for row in rows]


@router.get(
    "/segments/{segment_id}/video",
    response_class=FileResponse,
    responses=_VIDEO_RESPONSE,
    summary="One segment's video file",
)
def segment_video(segment_id: SegmentId, services: Services, conn: Conn) -> FileResponse:
    footage = _footage(services)
    row = FootageStore(conn).segment(segment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no finished segment {segment_id}")
    return _video(footage.footage_dir / row.path)


@router.get(
    "/events/{event_id}",
    response_model=EventFootageOut,
    summary="Where an event can be seen: its clip, or a segment and the offset to play",
)
def event_footage(event_id: EventId, services: Services) -> EventFootageOut:
    location = _footage(services).clip_for_event(event_id)
    if location is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no footage of event {event_id}")
    return EventFootageOut(
        event_id=event_id,
        kind=location.kind,
        start=TimePoint.of(location.start),
        end=TimePoint.of(location.end),
        offset_seconds=location.offset_seconds,
        video_url=f"/api/v1/footage/events/{event_id}/video",
        browser_video_url=f"/api/v1/footage/events/{event_id}/video.webm",
    )


@router.get(
    "/events/{event_id}/video",
    response_class=FileResponse,
    responses=_VIDEO_RESPONSE,
    summary="The video showing an event (seek to offset_seconds for a segment)",
)
def event_video(event_id: EventId, services: Services) -> FileResponse:
    location = _footage(services).clip_for_event(event_id)
    if location is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no footage of event {event_id}")
    return _video(location.path)


@router.get(
    "/events/{event_id}/video.webm",
    response_class=FileResponse,
    responses=_VIDEO_RESPONSE,
    summary="The event's video as WebM for a browser's player",
)
def event_browser_video(event_id: EventId, services: Services) -> FileResponse:
    footage = _footage(services)
    location = footage.clip_for_event(event_id)
    if location is None or not location.path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no footage of event {event_id}")
    return _video(footage.browser_copy(location.path))


@router.put(
    "/events/{event_id}/keep",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 413, 422),
    summary="Keep an event's clip past retention (incident)",
)
def keep_clip(event_id: EventId, body: KeepIn, services: Services, actor: Actor) -> None:
    try:
        _footage(services).mark_keep(event_id, body.until, actor, body.note)
    except ClipNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.delete(
    "/events/{event_id}/keep",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a keep mark; retention applies again",
)
def unkeep_clip(event_id: EventId, services: Services, actor: Actor) -> None:
    try:
        _footage(services).unmark_keep(event_id, actor)
    except ClipNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
