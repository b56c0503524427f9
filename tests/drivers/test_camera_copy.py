"""Recording by stream copy (drivers/camera_copy.py, drivers/camera_stream.py) against a generated
H.264 camera: segments cut on keyframes under the OpenCV path's names, every packet kept byte for
byte with its timing, clips per event found by the footage books, a dropped stream reconnected."""

from __future__ import annotations

import logging
import queue
from contextlib import closing
from pathlib import Path

import av
import pytest

from controller.domain.events import Event, EventType
from controller.store.events import EventLog
from drivers.camera_copy import CopyRecorder, PacketRing
from drivers.camera_messages import (
    CameraFault,
    ClipFinished,
    RecorderConfig,
    RecorderMessage,
    SegmentFinished,
    SegmentStarted,
    SetCapture,
)
from drivers.camera_process import RecorderHandle
from drivers.camera_stream import PacketCapture, redacted
from tests.h264_support import decoded_frames, packets_of, write_h264

T0 = 1_764_102_600_000  # 2025-11-25 20:30:00 UTC, on a segment boundary
FPS, GOP, FRAMES = 25, 10, 100  # a keyframe every 0.4 s, 4 s of video


def plenty_of_space(_directory: Path) -> int:
    return 10**12


def copy_config(tmp_path: Path, **changes) -> RecorderConfig:
    values = dict(
        source="unused",
        footage_dir=tmp_path / "footage",
        segment_seconds=1,
        pre_event_seconds=1,
        post_event_seconds=1,
        mode="copy",
        free_bytes=plenty_of_space,
    )
    values.update(changes)
    return RecorderConfig(**values)


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory) -> Path:
    return write_h264(tmp_path_factory.mktemp("h264") / "camera.mp4", FRAMES, fps=FPS, gop=GOP)


def record(recorder: CopyRecorder, source: Path, clips: dict[int, int] | None = None) -> None:
    """Every packet of `source`, stamped T0 + its media time; `clips`: packet index -> event id."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        for n, packet in enumerate(p for p in container.demux(stream) if p.size):
            at_ms = T0 + int(packet.pts * packet.time_base * 1000)
            recorder.on_frame(packet, at_ms)
            if clips and n in clips:
                recorder.request_clip(clips[n], at_ms)
        recorder.interrupt()  # while the source stream is still open


def test_segments_are_cut_on_keyframes_and_keep_every_packet_byte_for_byte(tmp_path, camera_file):
    out: list[RecorderMessage] = []
    recorder = CopyRecorder(copy_config(tmp_path), out.append)
    recorder.set_segments(True)
    record(recorder, camera_file)

    finished = [m for m in out if isinstance(m, SegmentFinished)]
    # Boundaries every second, keyframes every 0.4 s: cut at 1.2, 2.0, 3.2 s.
    assert [m.start_ms - T0 for m in finished] == [0, 1200, 2000, 3200]
    assert [m.end_ms for m in finished[:-1]] == [m.start_ms for m in finished[1:]]  # no gap, no overlap
    assert finished[-1].end_ms == T0 + FRAMES * 1000 // FPS
    assert finished[0].path == "segments/2025-11-25/203000-000.mp4"  # the OpenCV path's names
    assert sum(m.frames for m in finished) == FRAMES
    assert [m.path for m in out if isinstance(m, SegmentStarted)] == [m.path for m in finished]

    source = packets_of(camera_file)
    copied = [p for m in finished for p in packets_of(tmp_path / "footage" / m.path)]
    assert [bytes(p) for p in copied] == [bytes(p) for p in source]  # not re-encoded: the same bytes
    assert [p.is_keyframe for p in copied] == [p.is_keyframe for p in source]
    n = 0
    for m in finished:
        path = tmp_path / "footage" / m.path
        assert decoded_frames(path) == m.frames  # a valid file that decodes whole
        with av.open(str(path)) as segment, av.open(str(camera_file)) as original:
            mine, theirs = segment.streams.video[0], original.streams.video[0]
            assert (mine.codec_context.name, mine.width, mine.height) == ("h264", 320, 240)
            assert mine.codec_context.extradata == theirs.codec_context.extradata
        # Timing kept: each segment starts at 0 and runs at the source's pace.
        times = [float(p.pts * p.time_base) for p in packets_of(path)]
        original_times = [float(p.pts * p.time_base) for p in source[n : n + m.frames]]
        assert times == pytest.approx([t - original_times[0] for t in original_times])
        assert times[-1] + 1 / FPS == pytest.approx((m.end_ms - m.start_ms) / 1000)
        n += m.frames


def test_a_segment_starts_at_the_next_keyframe_when_recording_starts_mid_picture_group(tmp_path, camera_file):
    out: list[RecorderMessage] = []
    # The real free-space check, on a footage directory that does not exist yet.
    cfg = copy_config(tmp_path, segment_seconds=60, free_bytes=RecorderConfig.free_bytes, min_free_bytes=0)
    recorder = CopyRecorder(cfg, out.append)
    with av.open(str(camera_file)) as container:
        for n, packet in enumerate(p for p in container.demux(container.streams.video[0]) if p.size):
            if n == 3:
                recorder.set_segments(True)
            recorder.on_frame(packet, T0 + n * 40)
        recorder.interrupt()
    (segment,) = [m for m in out if isinstance(m, SegmentFinished)]
    assert segment.start_ms == T0 + GOP * 40 and segment.frames == FRAMES - GOP
    assert recorder.counts.values["segment_waits_for_keyframe"] == GOP - 3
    assert decoded_frames(tmp_path / "footage" / segment.path) == FRAMES - GOP


def test_an_event_clip_starts_on_the_keyframe_before_the_pre_event_span(tmp_path, camera_file):
    out: list[RecorderMessage] = []
    recorder = CopyRecorder(copy_config(tmp_path), out.append)  # segments off: clips only
    record(recorder, camera_file, clips={50: 42})  # the event at 2.0 s

    (clip,) = [m for m in out if isinstance(m, ClipFinished)]
    assert clip.event_id == 42 and clip.path == "clips/event-42.mp4"
    assert clip.start_ms == T0 + 800  # the last keyframe at or before 2.0 - 1 s
    assert clip.end_ms >= T0 + 3000  # to at least 1 s after the event
    assert clip.frames == (clip.end_ms - clip.start_ms) * FPS // 1000
    path = tmp_path / "footage" / clip.path
    packets = packets_of(path)
    assert packets[0].is_keyframe and decoded_frames(path) == clip.frames
    assert [bytes(p) for p in packets] == [bytes(p) for p in packets_of(camera_file)[20 : 20 + clip.frames]]
    assert not [m for m in out if isinstance(m, SegmentFinished)]


def test_the_ring_keeps_whole_picture_groups_covering_the_pre_event_span(camera_file):
    ring = PacketRing(1.0)
    with av.open(str(camera_file)) as container:
        for n, packet in enumerate(p for p in container.demux(container.streams.video[0]) if p.size):
            ring.append(T0 + n * 40, packet)
            if n == 60:  # at 2.4 s: the span starts at 1.4 s, covered from the keyframe at 1.2 s
                held = ring.since(T0 + 1400)
                assert held[0][0] == T0 + 1200 and held[0][1].is_keyframe
                assert len(ring) == 61 - 30


def test_a_clip_for_an_entry_is_found_and_plays_in_the_browser_as_it_is(
    tmp_path, camera_file, runtime, clock
):
    from controller.config.settings import CameraSettings
    from controller.services.footage import FootageService

    footage_dir = tmp_path / "footage"
    svc = FootageService(
        CameraSettings(enabled=False, mode="copy"), footage_dir, runtime.connection, "entrance", clock
    )
    svc.start(pump_thread=False)
    with closing(runtime.connection()) as conn:
        event_id = EventLog(conn).record(Event(type=EventType.ACCESS_GRANTED, at=clock(), door="entrance"))
    at_ms = int(clock().timestamp() * 1000)
    recorder = CopyRecorder(copy_config(tmp_path), svc.handle)
    recorder.set_segments(True)
    with av.open(str(camera_file)) as container:
        for n, packet in enumerate(p for p in container.demux(container.streams.video[0]) if p.size):
            recorder.on_frame(packet, at_ms - 2000 + n * 40)  # the entry 2 s into the video
            if n == 50:
                recorder.request_clip(event_id, at_ms)
        recorder.interrupt()

    location = svc.clip_for_event(event_id)
    assert location is not None and location.kind == "clip"
    assert location.path == footage_dir / f"clips/event-{event_id}.mp4"
    assert location.offset_seconds == pytest.approx(1.2)  # from the keyframe at 0.8 s to 2.0 s
    assert svc.browser_copy(location.path) == location.path  # H.264 MP4: no WebM transcode


def test_the_recorder_copies_a_camera_stream_end_to_end(tmp_path):
    source = write_h264(tmp_path / "camera.mp4", 25, fps=FPS, gop=GOP)  # 1 s, replayed in real time
    cfg = copy_config(tmp_path, source=str(source), retry_first_seconds=30, free_bytes=plenty_of_space)
    handle = RecorderHandle(cfg, in_process=False)
    handle.start()
    try:
        handle.send(SetCapture(capture=True, segments=True))
        assert handle.next_message(SegmentStarted, 10) is not None
        fault = handle.next_message(CameraFault, 10)  # the file ends: the camera stopped
        assert fault is not None and fault.kind == "no_frames" and "the stream ended" in fault.detail
    finally:
        handle.stop()
    segments = sorted((tmp_path / "footage" / "segments").rglob("*.mp4"))
    assert sum(decoded_frames(s) for s in segments) == 25
    assert [bytes(p) for s in segments for p in packets_of(s)] == [bytes(p) for p in packets_of(source)]


def test_a_camera_that_is_not_there_is_a_clear_fault_without_its_password(tmp_path, caplog):
    cfg = copy_config(tmp_path, source="rtsp://admin:secret@127.0.0.1:9/stream", retry_first_seconds=30)
    handle = RecorderHandle(cfg, in_process=False)
    handle.start()
    try:
        with caplog.at_level(logging.WARNING, logger="drivers.camera_loop"):
            handle.send(SetCapture(capture=True, segments=True))
            fault = handle.next_message(CameraFault, 15)
            assert fault is not None and fault.kind == "open_failed"
            assert "rtsp://admin:***@127.0.0.1:9/stream" in fault.detail and "secret" not in fault.detail
    finally:
        handle.stop()
    assert "secret" not in caplog.text
    assert "retrying in 30 s" in caplog.text  # the next attempt waits: no loop that spins


def test_a_dropped_stream_is_reopened(tmp_path):
    source = write_h264(tmp_path / "camera.mp4", 5, fps=FPS, gop=GOP)
    cfg = copy_config(tmp_path, source=str(source), retry_first_seconds=0.05, retry_max_seconds=0.05)
    handle = RecorderHandle(cfg, in_process=False)
    handle.start()
    try:
        handle.send(SetCapture(capture=True, segments=True))
        first = handle.next_message(SegmentStarted, 10)
        assert handle.next_message(CameraFault, 10).kind == "no_frames"  # the stream ended
        assert handle.next_message(CameraFault, 10).kind == "recovered"  # opened again, packets again
        second = handle.next_message(SegmentStarted, 10)
        assert first is not None and second is not None and second.path != first.path
    finally:
        handle.stop()


def test_a_source_password_is_hidden_in_what_is_logged():
    assert redacted("rtsp://admin:s3cret@cam.local:554/h264") == "rtsp://admin:***@cam.local:554/h264"
    assert redacted("rtsp://cam.local/h264") == "rtsp://cam.local/h264"
    assert redacted(0) == "0"


def test_a_full_queue_drops_up_to_the_next_keyframe(tmp_path, camera_file):
    packets: queue.Queue = queue.Queue(maxsize=5)
    capture = PacketCapture(copy_config(tmp_path), packets)
    with av.open(str(camera_file)) as container:
        for n, packet in enumerate(p for p in container.demux(container.streams.video[0]) if p.size):
            capture._hand_over((T0 + n * 40, packet))
            if n == 7:  # the loop catches up: the queue has room again
                while not packets.empty():
                    packets.get_nowait()
            if n == 12:
                break
    kept = []
    while not packets.empty():
        kept.append(packets.get_nowait()[0])
    # 0-4 fitted, 5 found the queue full: 5-9 dropped (no smeared pictures), 10 is a keyframe.
    assert kept == [T0 + n * 40 for n in (10, 11, 12)]
    assert capture.dropped == 5


@pytest.mark.parametrize(
    ("source", "mode", "expected"),
    [
        ("rtsp://cam.local/h264", "auto", "copy"),
        ("RTSPS://cam.local/h264", "auto", "copy"),
        (0, "auto", "decode"),
        ("/srv/camera.mp4", "auto", "decode"),
        ("/srv/camera.mp4", "copy", "copy"),
        ("rtsp://cam.local/mjpeg", "decode", "decode"),
    ],
)
def test_the_recording_mode_follows_the_source_unless_set(source, mode, expected, tmp_path):
    from controller.config.settings import CameraSettings
    from controller.services.footage_plan import recorder_config

    settings = CameraSettings(source=source, mode=mode)
    assert recorder_config(settings, tmp_path).mode == expected


def test_an_unknown_recording_mode_is_refused_by_name():
    from controller.config.settings import ConfigError, parse_settings

    with pytest.raises(ConfigError, match="camera.mode"):
        parse_settings({"camera": {"mode": "transcode"}}, "door.toml")


def test_only_h264_mp4_is_said_to_play_in_a_browser(tmp_path, camera_file):
    import cv2
    import numpy as np

    from drivers.camera_mp4 import plays_in_browser

    mp4v = tmp_path / "opencv.mp4"
    writer = cv2.VideoWriter(str(mp4v), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x08moov\xff\xff")
    assert plays_in_browser(camera_file)
    assert not plays_in_browser(mp4v)  # OpenCV's MPEG-4 part 2: a WebM copy is needed
    assert not plays_in_browser(tmp_path / "broken.mp4") and not plays_in_browser(tmp_path / "gone.mp4")
