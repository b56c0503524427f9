"""Footage endpoints: an event's clip (seekable with Range), segments, audited keep marks."""

from __future__ import annotations

from contextlib import closing
from datetime import date, timedelta

import cv2
import numpy as np
import pytest

from controller.domain.events import Event, EventType
from controller.services.runtime import Runtime
from controller.store.events import EventLog
from controller.store.footage import FootageStore
from tests.api.api_support import Api


def write_video(path, frames: int = 20) -> int:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for n in range(frames):
        writer.write(np.full((120, 160, 3), n * 10 % 255, dtype=np.uint8))
    writer.release()
    return path.stat().st_size


def recorded_event(api: Api, runtime: Runtime) -> int:
    """A refusal with a 2 s clip around it, and a segment covering it."""
    footage_dir = api.services.footage.footage_dir
    footage_dir.mkdir(parents=True, exist_ok=True)
    now = runtime.clock()
    ms = int(now.timestamp() * 1000)
    with closing(runtime.connection()) as conn:
        event_id = EventLog(conn).record(
            Event(EventType.ACCESS_REFUSED, now, "entrance", reason="wrong_pin", member_ref="P1")
        )
        store = FootageStore(conn)
        size = write_video(footage_dir / "clip-1.avi")
        store.add_clip(event_id, "clip-1.avi", ms - 1000, ms + 1000, 20, size)
        size = write_video(footage_dir / "seg-1.avi", 40)
        store.segment_started("seg-1.avi", ms - 2000)
        store.segment_finished("seg-1.avi", ms - 2000, ms + 2000, 40, size)
    return event_id


def test_event_clip_is_found_and_served_with_ranges(api: Api, runtime: Runtime) -> None:
    event_id = recorded_event(api, runtime)
    body = api.client.get(f"/api/v1/footage/events/{event_id}", headers=api.auth("sec")).json()
    assert body["kind"] == "clip" and body["offset_seconds"] == 1.0
    whole = api.client.get(body["video_url"], headers=api.auth("sec"))
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/x-msvideo"
    part = api.client.get(body["video_url"], headers={**api.auth("sec"), "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.content == whole.content[:100]


def test_segments_are_listed_and_playable(api: Api, runtime: Runtime) -> None:
    recorded_event(api, runtime)
    (segment,) = api.client.get("/api/v1/footage/segments", headers=api.auth("sec")).json()
    assert segment["frames"] == 40
    video = api.client.get(segment["video_url"], headers=api.auth("sec"))
    assert video.status_code == 200 and video.content[:4] == b"RIFF"


def test_keep_mark_is_audited_and_validated(api: Api, runtime: Runtime) -> None:
    event_id = recorded_event(api, runtime)
    until = (runtime.clock() + timedelta(days=60)).date().isoformat()
    url = f"/api/v1/footage/events/{event_id}/keep"
    assert (
        api.client.put(url, json={"until": until, "note": "incident 7"}, headers=api.auth("sec")).status_code
        == 204
    )
    with closing(runtime.connection()) as conn:
        assert FootageStore(conn).clip(event_id).keep_until == date.fromisoformat(until)
        audit = EventLog(conn).query(limit=1)[0]
    assert audit.type is EventType.ADMIN_CHANGE and audit.actor == "api:sec"
    assert api.client.put(url, json={"until": "2020-01-01"}, headers=api.auth("sec")).status_code == 422
    assert api.client.delete(url, headers=api.auth("sec")).status_code == 204
    assert (
        api.client.put(
            "/api/v1/footage/events/999999/keep", json={"until": until}, headers=api.auth("sec")
        ).status_code
        == 404
    )


def test_footage_is_for_security_only(api: Api, runtime: Runtime) -> None:
    event_id = recorded_event(api, runtime)
    assert (
        api.client.get(f"/api/v1/footage/events/{event_id}/video", headers=api.auth("manny")).status_code
        == 403
    )
    assert api.client.get(f"/api/v1/footage/events/{event_id}/video").status_code == 401
    assert api.client.get("/api/v1/footage/events/424242", headers=api.auth("sec")).status_code == 404


def test_browser_copy_is_webm_that_opencv_reads_back(api: Api, runtime: Runtime) -> None:
    event_id = recorded_event(api, runtime)
    body = api.client.get(f"/api/v1/footage/events/{event_id}", headers=api.auth("sec")).json()
    video = api.client.get(body["browser_video_url"], headers=api.auth("sec"))
    assert video.status_code == 200 and video.headers["content-type"] == "video/webm"
    assert video.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file
    copy = api.services.footage.footage_dir / "browser" / "clip-1.avi.webm"
    reader = cv2.VideoCapture(str(copy))
    frames = 0
    while reader.read()[0]:
        frames += 1
    reader.release()
    assert frames == 20
    # Deleted with its original.
    api.services.footage.retention.remove_file("clip-1.avi")
    assert not copy.exists()


@pytest.mark.parametrize("too_big", [2**63, 2**64])
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/footage/segments/{id}/video"),
        ("GET", "/api/v1/footage/events/{id}"),
        ("GET", "/api/v1/footage/events/{id}/video"),
        ("GET", "/api/v1/footage/events/{id}/video.webm"),
        ("PUT", "/api/v1/footage/events/{id}/keep"),
        ("DELETE", "/api/v1/footage/events/{id}/keep"),
    ],
)
def test_ids_beyond_what_sqlite_stores_are_422_not_500(
    api: Api, method: str, path: str, too_big: int
) -> None:
    """SQLite integers are signed 64-bit: a bigger id once overflowed into a 500."""
    response = api.client.request(
        method,
        path.format(id=too_big),
        headers=api.auth("sec"),
        json={"until": "2027-01-01"} if method == "PUT" else None,
    )
    assert response.status_code == 422, response.text
    assert "less than or equal to" in response.text


def test_a_keep_until_is_a_day_as_text_not_a_number(api: Api, runtime: Runtime) -> None:
    event_id = recorded_event(api, runtime)
    url = f"/api/v1/footage/events/{event_id}/keep"
    for until in (0, 0.5, 1_800_000_000):
        response = api.client.put(url, json={"until": until}, headers=api.auth("sec"))
        assert response.status_code == 422 and "YYYY-MM-DD (not a number)" in response.text
    with closing(runtime.connection()) as conn:
        assert FootageStore(conn).clip(event_id).keep_until is None
