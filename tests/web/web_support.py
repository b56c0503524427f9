"""Builders for the web page tests: sign in through the real form, read a form's CSRF token,
seed events and a real video clip, and a door double whose mode follows the saved schedule."""

from __future__ import annotations

import re
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient

from controller.domain.events import DoorAlarm, Event, EventType
from controller.domain.messages import PROMPT_CARD
from controller.domain.schedule import Schedule
from controller.domain.timeline import mode_at
from controller.door.link import LoopHealth
from controller.door.ports import DoorSnapshot, Phase
from controller.services.runtime import Runtime
from controller.store.events import EventLog
from controller.store.footage import FootageStore
from tests.api.api_support import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The hidden CSRF field of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (from the landing page)."""
    token = csrf_of(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"username": username, "password": password, "csrf_token": token, "next": "/today"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/today").text)


@dataclass
class FollowingDoor:
    """A door double: its mode is what the last schedule handed to `schedule_changed` gives."""

    clock: object
    schedule: Schedule = field(default_factory=Schedule)
    alarm: DoorAlarm | None = None

    def schedule_changed(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def snapshot(self) -> DoorSnapshot | None:
        now = self.clock()  # type: ignore[operator]
        return DoorSnapshot(
            mode=mode_at(self.schedule, now).mode,
            phase=Phase.IDLE,
            relay_unlocked=False,
            door_open=self.alarm is not None,
            alarm=self.alarm,
            message=PROMPT_CARD,
            pin_keys=0,
            at=now,
        )

    def loop_health(self) -> LoopHealth:
        return LoopHealth(alive=True, last_turn_age=0.1)

    def remote_unlock(self, actor: str) -> None:
        pass


def record_event(runtime: Runtime, kind: EventType, at: datetime, **fields: str) -> int:
    with closing(runtime.connection()) as conn:
        return EventLog(conn).record(Event(type=kind, at=at, door="entrance", **fields))


def write_clip(path: Path, seconds: float = 2.0, fps: int = 10, fourcc: str = "VP80") -> int:
    """A real clip made with OpenCV (a moving bar); VP8 WebM, or the recorder's mp4v. Frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (320, 240))
    assert writer.isOpened(), f"this OpenCV build cannot write {fourcc}"
    frames = int(seconds * fps)
    for i in range(frames):
        frame = np.full((240, 320, 3), 40, np.uint8)
        frame[:, (i * 15) % 300 : (i * 15) % 300 + 20] = (0, 200, 255)
        writer.write(frame)
    writer.release()
    return frames


def register_clip(
    runtime: Runtime,
    footage_dir: Path,
    event_id: int,
    start: datetime,
    seconds: float = 2.0,
    fourcc: str = "VP80",
) -> Path:
    """A clip file for an event, booked in event_clips the way the recorder's reports are."""
    relative = f"clips/event-{event_id}.{'webm' if fourcc == 'VP80' else 'mp4'}"
    frames = write_clip(footage_dir / relative, seconds, fourcc=fourcc)
    start_ms = int(start.timestamp() * 1000)
    with closing(runtime.connection()) as conn:
        FootageStore(conn).add_clip(
            event_id,
            relative,
            start_ms,
            start_ms + int(seconds * 1000),
            frames,
            (footage_dir / relative).stat().st_size,
        )
    return footage_dir / relative


def member_csv(rows: list[str]) -> bytes:
    header = "patron_id;cards;name;adult;valid_until;openplus_registered;pin"
    return ("\n".join([header, *rows]) + "\n").encode()


GOOD_ROWS = [f"P{n:04d};2999000000{n:04d};Lid {n};ja;2027-12-31;2025-01-01;" for n in range(1, 6)]
BAD_ROW = "P9999;12;Te kort;ja;2027-13-45;2025-01-01;"


def since(moment: datetime, **delta: float) -> datetime:
    return moment - timedelta(**delta)
