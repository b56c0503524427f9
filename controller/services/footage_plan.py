"""When the camera records: the capture plan per door mode, which events get a clip, and the
recorder's configuration from the settings. Pure rules, apart from the recorder's clock."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from controller.config.settings import CameraSettings
from controller.domain.clock import Clock, utc_now
from controller.domain.events import EventType
from controller.domain.modes import DoorMode
from drivers.camera_messages import RecorderConfig, SetCapture

# Alarms include `alarm` (guessing at the door: escalating lockouts, card cycling): the clip
# shows who was trying.
ALARM_EVENTS = frozenset({EventType.DOOR_FORCED, EventType.DOOR_HELD_OPEN, EventType.ALARM})
# Tailgating (the people counter): the clip shows who came in on someone else's grant.
CLIP_EVENTS = (
    frozenset({EventType.ACCESS_GRANTED, EventType.ACCESS_REFUSED, EventType.TAILGATING}) | ALARM_EVENTS
)


def capture_plan(mode: DoorMode, settings: CameraSettings) -> SetCapture:
    """Segments only in Open+; the camera also runs outside it when alarms are clipped any time."""
    segments = mode is DoorMode.OPENPLUS
    return SetCapture(capture=segments or settings.record_alarms_any_time, segments=segments)


def wants_clip(mode: DoorMode, kind: EventType, settings: CameraSettings) -> bool:
    if mode is DoorMode.OPENPLUS:
        return kind in CLIP_EVENTS
    return settings.record_alarms_any_time and kind in ALARM_EVENTS


def recording_mode(settings: CameraSettings) -> Literal["copy", "decode"]:
    """How the recorder stores video: an IP camera's stream (rtsp://) is copied as it comes, a
    USB camera (a number) or a file is decoded and re-encoded, unless the settings say which."""
    if settings.mode != "auto":
        return settings.mode
    stream = isinstance(settings.source, str) and settings.source.lower().startswith(("rtsp://", "rtsps://"))
    return "copy" if stream else "decode"


def recorder_config(settings: CameraSettings, footage_dir: Path, clock: Clock = utc_now) -> RecorderConfig:
    return RecorderConfig(
        source=settings.source,
        footage_dir=footage_dir,
        segment_seconds=settings.segment_seconds,
        pre_event_seconds=settings.pre_event_seconds,
        post_event_seconds=settings.post_event_seconds,
        max_width=settings.max_width,
        max_height=settings.max_height,
        max_fps=settings.max_fps,
        stall_seconds=settings.stall_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        min_free_bytes=settings.min_free_mb * 2**20,
        max_concurrent_clips=settings.max_concurrent_clips,
        loop_video_file=settings.loop_video_file,
        mode=recording_mode(settings),
        clock=clock,
    )
