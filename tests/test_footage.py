"""Footage bookkeeping with real storage: recording policy, clip look-up, keep marks, retention,
quota, CAMERA_FAULT events, and a stalled camera that never slows a door decision."""

from __future__ import annotations

import os
import queue
import threading
import time
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from controller.config.settings import CameraSettings, ConfigError, parse_settings
from controller.domain.clock import local_date
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.services.access import Authorizer
from controller.services.footage import CameraEventLog, ClipNotFound, FootageService
from controller.services.footage_plan import recorder_config
from controller.services.members import MemberAdmin
from controller.store.events import EventFilter, EventLog
from controller.store.footage import FootageStore
from drivers.camera import Recorder
from drivers.camera_files import probe_codec
from drivers.camera_messages import (
    CameraFault,
    ClipRequest,
    SegmentFinished,
    SegmentStarted,
    SetCapture,
    to_ms,
)
from tests.helpers import member_row
from tests.test_camera import (
    StallingCapture,
    plenty_of_space,
    read_marker,
    read_video,
    video_frames,
    write_test_video,
)

CARD = "29990000000001"


class FakeRecorder:
    """Stands in for RecorderHandle where only the door-side calls matter."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.commands: list = []
        self.notices: list[ClipRequest] = []
        self.output: queue.Queue = queue.Queue()
        self.alive = True

    def start(self) -> None: ...

    def is_alive(self) -> bool:
        return self.alive

    def send(self, command) -> None:
        self.commands.append(command)

    def notify(self, request: ClipRequest) -> bool:
        if len(self.notices) >= self.room:
            return False
        self.notices.append(request)
        return True

    def stop(self, timeout: float = 10.0) -> list:
        return []


def camera(**changes) -> CameraSettings:
    return CameraSettings(
        **{
            "enabled": True,
            "segment_seconds": 2,
            "pre_event_seconds": 1,
            "post_event_seconds": 1,
            "in_process": False,
            **changes,
        }
    )


@pytest.fixture
def footage_dir(tmp_path) -> Path:
    return tmp_path / "footage"


def service(runtime, clock, footage_dir, fake: FakeRecorder | None = None, **changes) -> FootageService:
    return FootageService(
        camera(**changes),
        footage_dir,
        runtime.connection,
        "entrance",
        clock,
        recorder_factory=(lambda _cfg: fake) if fake else None,
    )


def record_event(runtime, kind: EventType, at) -> int:
    with closing(runtime.connection()) as conn:
        return EventLog(conn).record(Event(type=kind, at=at, door="entrance"))


def events_of(runtime, kind: EventType) -> list[Event]:
    with closing(runtime.connection()) as conn:
        return EventLog(conn).query(EventFilter(types=(kind,)))


def record_footage(
    runtime, clock, footage_dir, svc, test_video, clips: dict[int, int]
) -> list[SegmentFinished]:
    """50 frames of the test video at 10 fps from now, straight into the service's books."""
    finished = []

    def books(message):
        if isinstance(message, SegmentFinished):
            finished.append(message)
        svc.handle(message)

    cfg = recorder_config(camera(), footage_dir, clock)
    cfg = replace(cfg, free_bytes=plenty_of_space)
    recorder = Recorder(cfg, probe_codec(footage_dir), books)
    recorder.set_segments(True)
    start_ms = to_ms(clock())
    for n, image in enumerate(video_frames(test_video)):
        recorder.on_frame(image, start_ms + n * 100)
        if n in clips:
            recorder.request_clip(clips[n], start_ms + n * 100)
    recorder.interrupt()
    return finished


@pytest.fixture(scope="module")
def test_video(tmp_path_factory) -> Path:
    return write_test_video(tmp_path_factory.mktemp("video") / "pattern.mp4", 50)


# --- settings and policy ------------------------------------------------------------------
def test_camera_settings_defaults_and_retention_limit():
    defaults = CameraSettings()
    assert (defaults.max_width, defaults.max_height, defaults.max_fps) == (1280, 720, 10.0)
    assert (defaults.segment_seconds, defaults.pre_event_seconds, defaults.post_event_seconds) == (
        300,
        10,
        10,
    )
    assert defaults.retention_days == 7 and not defaults.enabled
    assert parse_settings({"camera": {"retention_days": 28}}, "t").camera.retention_days == 28
    with pytest.raises(ConfigError, match="camera.retention_days"):
        parse_settings({"camera": {"retention_days": 29}}, "t")


def test_segments_only_in_openplus_and_alarm_capture_when_configured(runtime, clock, footage_dir):
    fake = FakeRecorder()
    svc = service(runtime, clock, footage_dir, fake)
    svc.start(pump_thread=False)
    for mode in (DoorMode.OPENPLUS, DoorMode.STAFFED, DoorMode.CLOSURE):
        svc.set_mode(mode)
    assert fake.commands == [
        SetCapture(False, False),
        SetCapture(True, True),
        SetCapture(False, False),
        SetCapture(False, False),
    ]
    alarms = FakeRecorder()
    svc = service(runtime, clock, footage_dir, alarms, record_alarms_any_time=True)
    svc.start(pump_thread=False)
    svc.set_mode(DoorMode.CLOSED)
    assert alarms.commands[-1] == SetCapture(capture=True, segments=False)
    assert svc.notify_event(1, clock(), EventType.DOOR_FORCED)
    assert not svc.notify_event(2, clock(), EventType.ACCESS_REFUSED)  # not Open+: no entry clips


def test_a_disabled_camera_starts_no_recorder(runtime, clock, footage_dir):
    made = []
    svc = FootageService(
        camera(enabled=False),
        footage_dir,
        runtime.connection,
        "entrance",
        clock,
        recorder_factory=lambda cfg: made.append(cfg) or FakeRecorder(),
    )
    svc.start()
    svc.set_mode(DoorMode.OPENPLUS)
    assert made == [] and not svc.notify_event(1, clock(), EventType.ACCESS_GRANTED)
    svc.stop()


def test_entries_and_alarms_get_clip_requests_in_openplus(runtime, clock, footage_dir):
    fake = FakeRecorder()
    svc = service(runtime, clock, footage_dir, fake)
    svc.start(pump_thread=False)
    assert not svc.notify_event(1, clock(), EventType.ACCESS_GRANTED)  # CLOSED
    svc.set_mode(DoorMode.OPENPLUS)
    kinds = [
        EventType.ACCESS_GRANTED,
        EventType.ACCESS_REFUSED,
        EventType.DOOR_FORCED,
        EventType.DOOR_HELD_OPEN,
        EventType.ALARM,
        EventType.DOOR_CLOSED,
        EventType.MODE_CHANGED,
    ]
    asked = [svc.notify_event(n, clock(), kind) for n, kind in enumerate(kinds, start=10)]
    assert asked == [True, True, True, True, True, False, False]
    assert fake.notices[0] == ClipRequest(10, to_ms(clock()), "access_granted")


def test_a_full_notice_queue_drops_and_counts(runtime, clock, footage_dir):
    svc = service(runtime, clock, footage_dir, FakeRecorder(room=2))
    svc.start(pump_thread=False)
    svc.set_mode(DoorMode.OPENPLUS)
    results = [svc.notify_event(n, clock(), EventType.ACCESS_REFUSED) for n in range(5)]
    assert results == [True, True, False, False, False] and svc.notices_dropped == 3


def test_camera_event_log_asks_for_a_clip_with_the_new_event_id(runtime, clock, footage_dir):
    fake = FakeRecorder()
    svc = service(runtime, clock, footage_dir, fake)
    svc.start(pump_thread=False)
    svc.set_mode(DoorMode.OPENPLUS)
    with closing(runtime.connection()) as conn:
        log = CameraEventLog(conn, svc)
        granted = log.record(Event(type=EventType.ACCESS_GRANTED, at=clock(), door="entrance"))
        log.record(Event(type=EventType.DOOR_OPENED, at=clock(), door="entrance"))
    assert [n.event_id for n in fake.notices] == [granted]


# --- the books ----------------------------------------------------------------------------
def test_clip_or_covering_segment_is_found_for_an_event(runtime, clock, footage_dir, test_video):
    svc = service(runtime, clock, footage_dir)
    with_clip = record_event(runtime, EventType.ACCESS_GRANTED, clock() + timedelta(seconds=2.5))
    without = record_event(runtime, EventType.ACCESS_REFUSED, clock() + timedelta(seconds=4.5))
    later = record_event(runtime, EventType.ACCESS_REFUSED, clock() + timedelta(minutes=5))
    segments = record_footage(runtime, clock, footage_dir, svc, test_video, clips={25: with_clip})

    clip = svc.clip_for_event(with_clip)
    assert clip.kind == "clip" and clip.offset_seconds == 1.0
    assert clip.start == clock() + timedelta(seconds=1.5)
    frames = read_video(clip.path)
    assert len(frames) == 21 and read_marker(frames[0]) == 15  # from before the event

    covering = svc.clip_for_event(without)
    assert covering.kind == "segment" and covering.path == footage_dir / segments[-1].path
    assert covering.offset_seconds == 0.5  # 4.5 s into a segment that starts at 4 s
    assert read_marker(read_video(covering.path)[5]) == 45
    assert svc.clip_for_event(later) is None and svc.clip_for_event(999) is None


def test_segment_being_recorded_is_not_offered(runtime, clock, footage_dir):
    svc = service(runtime, clock, footage_dir)
    event = record_event(runtime, EventType.ACCESS_GRANTED, clock())
    svc.handle(SegmentStarted("segments/x.mp4", to_ms(clock()) - 1000))
    assert svc.clip_for_event(event) is None


def test_camera_fault_becomes_an_event_row(runtime, clock, footage_dir):
    svc = service(runtime, clock, footage_dir)
    svc.handle(CameraFault("disk_full", "12 MiB free", to_ms(clock())))
    (fault,) = events_of(runtime, EventType.CAMERA_FAULT)
    assert (fault.reason, fault.detail, fault.at, fault.door) == (
        "disk_full",
        "12 MiB free",
        clock(),
        "entrance",
    )


def test_dead_recorder_is_reported_and_restarted(runtime, clock, footage_dir):
    made = []

    def factory(_cfg):
        made.append(FakeRecorder())
        return made[-1]

    svc = FootageService(
        camera(), footage_dir, runtime.connection, "entrance", clock, recorder_factory=factory
    )
    svc.start(pump_thread=False)
    made[0].alive = False
    svc.pump(timeout=0.01)
    assert [e.reason for e in events_of(runtime, EventType.CAMERA_FAULT)] == ["recorder_died"]
    assert len(made) == 2 and made[1].commands == [SetCapture(False, False)]


def test_rows_left_open_by_a_crash_are_closed_at_start(runtime, clock, footage_dir):
    (footage_dir / "segments").mkdir(parents=True)
    (footage_dir / "segments" / "kept.mp4").write_bytes(b"x" * 1234)
    last_write = clock().timestamp() - 30  # the recorder died 30 s into the segment
    os.utime(footage_dir / "segments" / "kept.mp4", (last_write, last_write))
    with closing(runtime.connection()) as conn:
        store = FootageStore(conn)
        store.segment_started("segments/kept.mp4", to_ms(clock()) - 60_000)
        store.segment_started("segments/gone.mp4", to_ms(clock()) - 60_000)
    service(runtime, clock, footage_dir, FakeRecorder()).start(pump_thread=False)
    with closing(runtime.connection()) as conn:
        rows = FootageStore(conn).finished_segments()
        assert FootageStore(conn).unfinished_segments() == []
    assert [(r.path, r.bytes) for r in rows] == [("segments/kept.mp4", 1234)]
    assert rows[0].end_ms - rows[0].start_ms == 30_000


# --- keep marks, retention, quota ---------------------------------------------------------
def test_keep_marks_are_audited_with_the_actor(runtime, clock, footage_dir, test_video):
    svc = service(runtime, clock, footage_dir)
    event = record_event(runtime, EventType.DOOR_FORCED, clock() + timedelta(seconds=2))
    record_footage(runtime, clock, footage_dir, svc, test_video, clips={20: event})
    today = local_date(clock())
    with pytest.raises(ValueError):
        svc.mark_keep(event, today - timedelta(days=1), "api:alice")
    with pytest.raises(ClipNotFound):
        svc.mark_keep(12345, today, "api:alice")
    svc.mark_keep(event, today + timedelta(days=30), "api:alice", "police request 2026-117")
    svc.unmark_keep(event, "api:bob")
    audit = events_of(runtime, EventType.ADMIN_CHANGE)
    assert [(e.actor, e.reason) for e in audit] == [
        ("api:bob", "footage keep removed"),
        ("api:alice", "footage kept"),
    ]
    assert "police request 2026-117" in audit[1].detail and f"event={event}" in audit[1].detail


def test_retention_deletes_old_footage_but_not_kept_clips(runtime, clock, footage_dir, test_video):
    svc = service(runtime, clock, footage_dir)
    kept = record_event(runtime, EventType.DOOR_FORCED, clock() + timedelta(seconds=1.5))
    plain = record_event(runtime, EventType.ACCESS_GRANTED, clock() + timedelta(seconds=3.5))
    segments = record_footage(runtime, clock, footage_dir, svc, test_video, clips={15: kept, 35: plain})
    svc.mark_keep(kept, local_date(clock()) + timedelta(days=10), "api:alice", "incident")

    assert svc.apply_retention(clock() + timedelta(days=6, hours=23)).segments == 0  # not old yet
    done = svc.apply_retention(clock() + timedelta(days=7, minutes=1))
    assert (done.segments, done.clips) == (len(segments), 1)
    assert not any(footage_dir.joinpath(s.path).exists() for s in segments)
    assert svc.clip_for_event(plain) is None
    kept_clip = svc.clip_for_event(kept)
    assert kept_clip.kind == "clip" and kept_clip.path.exists()

    assert svc.apply_retention(clock() + timedelta(days=9, hours=12)).clips == 0  # last kept day
    assert svc.apply_retention(clock() + timedelta(days=10, hours=12)).clips == 1
    assert not kept_clip.path.exists() and svc.clip_for_event(kept) is None


def test_quota_deletes_oldest_segments_first_and_never_a_kept_clip(runtime, clock, footage_dir, test_video):
    books = service(runtime, clock, footage_dir)
    kept = record_event(runtime, EventType.DOOR_HELD_OPEN, clock() + timedelta(seconds=1.5))
    plain = record_event(runtime, EventType.ACCESS_REFUSED, clock() + timedelta(seconds=3.5))
    segments = record_footage(runtime, clock, footage_dir, books, test_video, clips={15: kept, 35: plain})
    books.mark_keep(kept, local_date(clock()), "api:alice", "incident")
    with closing(runtime.connection()) as conn:
        store = FootageStore(conn)
        total, kept_bytes = store.total_bytes(), store.clip(kept).bytes

    def quota(limit_bytes: int):
        return service(runtime, clock, footage_dir, max_gb=limit_bytes / 1e9).enforce_quota()

    done = quota(total - 1)  # one byte over: only the oldest segment goes
    assert (done.segments, done.clips) == (1, 0)
    assert not footage_dir.joinpath(segments[0].path).exists()
    assert footage_dir.joinpath(segments[1].path).exists()
    done = quota(kept_bytes)  # the rest of the segments, then the unkept clip
    assert (done.segments, done.clips) == (len(segments) - 1, 1)
    assert svc_has_clip(runtime, kept) and not svc_has_clip(runtime, plain)
    assert quota(1).clips == 0 and svc_has_clip(runtime, kept)  # over quota, yet kept


def svc_has_clip(runtime, event_id: int) -> bool:
    with closing(runtime.connection()) as conn:
        return FootageStore(conn).clip(event_id) is not None


# --- the door never waits for the camera -------------------------------------------------
def test_stalled_camera_raises_a_fault_while_the_door_decides_promptly(runtime, clock, footage_dir):
    release = threading.Event()
    settings = camera(stall_seconds=0.3)
    cfg = recorder_config(settings, footage_dir)  # real clock in the recorder thread
    cfg = replace(
        cfg,
        free_bytes=plenty_of_space,
        retry_first_seconds=30,
        open_source=lambda _src: StallingCapture(frames=5, release_read=release),
    )
    svc = FootageService(settings, footage_dir, runtime.connection, "entrance", clock, config=cfg)
    conn = runtime.connection()
    try:
        MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "entrance").replace_list(
            [(1, member_row(1))], "test"
        )
        authorizer = Authorizer(
            runtime.members(conn),
            CameraEventLog(conn, svc),
            runtime.hasher,
            runtime.settings.access,
            "entrance",
        )
        svc.start(pump_thread=False)
        svc.set_mode(DoorMode.OPENPLUS)
        faults: list = []
        deadline = time.monotonic() + 5  # a hang guard for the fault that must come
        while not faults and time.monotonic() < deadline:
            # The capture stays stalled until `release` (set only in `finally`): a decision that
            # waited for the camera would never return. Its speed is bench/'s business.
            assert authorizer.authorize(CARD, "1234", "front", DoorMode.OPENPLUS, clock()).granted
            svc.pump(timeout=0.05)  # waits on the recorder's queue, not a sleep
            faults = events_of(runtime, EventType.CAMERA_FAULT)
        assert [f.reason for f in faults] == ["stalled"]
    finally:
        release.set()
        svc.stop()
        conn.close()
