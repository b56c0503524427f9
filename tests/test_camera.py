"""The camera's hardware side against real OpenCV: a generated test-pattern video is read back
through cv2.VideoCapture, cut into segments and clips, and every frame's number is decoded
from the files the recorder wrote."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import Recorder
from drivers.camera_files import Codec, FrameRing, probe_codec
from drivers.camera_messages import (
    CameraFault,
    ClipFinished,
    ClipRequest,
    RecorderConfig,
    RecorderStopped,
    SegmentFinished,
    SegmentStarted,
    SetCapture,
)
from drivers.camera_process import RecorderHandle

WIDTH, HEIGHT, FPS = 320, 240, 10
BITS = 10
T0 = 1_764_102_600_000  # 2025-11-25 20:30:00 UTC, on a 2 s boundary
PLENTY = 10**12


# --- the test pattern: each frame's number in big black/white blocks survives compression --
def marked_frame(number: int, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    width, height = size
    image = np.full((height, width, 3), 90, np.uint8)
    block = width // (BITS + 2)
    for bit in range(BITS):
        value = 255 if number >> bit & 1 else 0
        x = block * (bit + 1)
        image[block // 2 : block // 2 + block, x : x + block] = value
    cv2.putText(image, str(number), (block, height - block), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 255, 255), 3)
    return image


def read_marker(image: np.ndarray) -> int:
    height, width = image.shape[:2]
    block = width // (BITS + 2)
    number = 0
    for bit in range(BITS):
        x = block * (bit + 1)
        centre = image[
            block // 2 + block // 4 : block // 2 + 3 * block // 4, x + block // 4 : x + 3 * block // 4
        ]
        number |= int(centre.mean() > 127) << bit
    return number


def write_test_video(
    path: Path, count: int, size: tuple[int, int] = (WIDTH, HEIGHT), fps: float = FPS
) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for n in range(count):
        writer.write(marked_frame(n, size))
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def plenty_of_space(_directory: Path) -> int:
    return PLENTY  # module level: a spawned recorder process must be able to unpickle it


def config(tmp_path: Path, **changes) -> RecorderConfig:
    values = dict(
        source="unused",
        footage_dir=tmp_path / "footage",
        segment_seconds=2,
        pre_event_seconds=1,
        post_event_seconds=1,
        max_fps=FPS,
        free_bytes=plenty_of_space,
    )
    values.update(changes)
    return RecorderConfig(**values)


@pytest.fixture(scope="module")
def test_video(tmp_path_factory) -> Path:
    return write_test_video(tmp_path_factory.mktemp("video") / "pattern.mp4", 50)


def video_frames(path: Path) -> list[np.ndarray]:
    """The test video as the recorder would get it: through cv2.VideoCapture."""
    frames = read_video(path)
    assert [read_marker(f) for f in frames] == list(range(len(frames)))
    return frames


def feed(
    recorder: Recorder,
    frames: list[np.ndarray],
    start_ms: int,
    step_ms: int = 100,
    clips: dict[int, int] | None = None,
) -> None:
    """Frames at fixed clock steps; `clips` maps frame index -> event id requested after it."""
    for n, image in enumerate(frames):
        recorder.on_frame(image, start_ms + n * step_ms)
        if clips and n in clips:
            recorder.request_clip(clips[n], start_ms + n * step_ms)


# --- tests ---------------------------------------------------------------------------------
def test_codec_probe_prefers_mp4v_and_falls_back_to_mjpg(tmp_path):
    assert probe_codec(tmp_path) == Codec("mp4v", "mp4")
    assert probe_codec(tmp_path, (Codec("avc1", "mp4"), Codec("MJPG", "avi"))) == Codec("MJPG", "avi")
    assert list(tmp_path.iterdir()) == []  # the probe cleans up after itself
    with pytest.raises(OSError):
        probe_codec(tmp_path, (Codec("avc1", "mp4"),))


def test_segments_are_cut_on_fixed_boundaries(tmp_path, test_video):
    out = []
    recorder = Recorder(config(tmp_path), probe_codec(tmp_path), out.append)
    recorder.set_segments(True)
    feed(recorder, video_frames(test_video), T0 + 500)  # 0.5 s into a 2 s slot
    recorder.interrupt()
    finished = [m for m in out if isinstance(m, SegmentFinished)]
    assert [s.frames for s in finished] == [15, 20, 15]
    assert [s.start_ms - T0 for s in finished] == [500, 2000, 4000]
    assert [s.end_ms - T0 for s in finished] == [2000, 4000, 5500]
    assert sum(isinstance(m, SegmentStarted) for m in out) == 3
    first_numbers = []
    for segment in finished:
        frames = read_video(tmp_path / "footage" / segment.path)
        assert len(frames) == segment.frames
        numbers = [read_marker(f) for f in frames]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        first_numbers.append(numbers[0])
    assert first_numbers == [0, 15, 35]


def test_event_clip_starts_before_the_event(tmp_path, test_video):
    out = []
    recorder = Recorder(config(tmp_path), probe_codec(tmp_path), out.append)
    recorder.set_segments(True)
    feed(recorder, video_frames(test_video), T0, clips={25: 101})
    (clip,) = [m for m in out if isinstance(m, ClipFinished)]
    assert clip.event_id == 101 and clip.path == "clips/event-101.mp4"
    assert (clip.start_ms - T0, clip.end_ms - T0) == (1500, 3600)  # 1 s before to 1 s after
    frames = read_video(tmp_path / "footage" / clip.path)
    assert len(frames) == clip.frames == 21
    numbers = [read_marker(f) for f in frames]
    assert numbers[0] == 15 < 25  # pre-roll from the ring buffer
    assert numbers == list(range(15, 36))


def test_clips_without_segments_outside_openplus(tmp_path, test_video):
    out = []
    recorder = Recorder(config(tmp_path, pre_event_seconds=0.5), probe_codec(tmp_path), out.append)
    feed(recorder, video_frames(test_video)[:30], T0, clips={10: 7})
    assert not any(isinstance(m, (SegmentStarted, SegmentFinished)) for m in out)
    (clip,) = [m for m in out if isinstance(m, ClipFinished)]
    assert [read_marker(f) for f in read_video(tmp_path / "footage" / clip.path)][0] == 5


def test_resolution_and_frame_rate_are_capped(tmp_path):
    out = []
    cfg = config(tmp_path, max_width=160, max_height=160, segment_seconds=10)
    recorder = Recorder(cfg, probe_codec(tmp_path), out.append)
    recorder.set_segments(True)
    frames = [marked_frame(n, (640, 480)) for n in range(60)]
    feed(recorder, frames, T0, step_ms=33)  # 30 fps for 2 s
    recorder.interrupt()
    (segment,) = [m for m in out if isinstance(m, SegmentFinished)]
    written = read_video(tmp_path / "footage" / segment.path)
    assert written[0].shape[:2] == (120, 160)  # aspect kept, within the cap
    assert 19 <= len(written) <= 21  # 10 fps, not 30
    assert recorder.counts.values["skipped_rate_cap"] == 60 - len(written)


def test_ring_buffer_holds_only_the_pre_event_span():
    ring = FrameRing(seconds=1.0)
    for n in range(50):
        ring.append(T0 + n * 100, marked_frame(n))
    assert len(ring) == 11
    assert [read_marker(image) for _, image in ring.since(T0 + 4500)] == list(range(45, 50))


def test_low_disk_space_is_a_fault_until_it_clears(tmp_path, test_video):
    free = {"bytes": 10}
    out = []
    cfg = config(tmp_path, min_free_bytes=1000, free_bytes=lambda _: free["bytes"])
    recorder = Recorder(cfg, probe_codec(tmp_path), out.append)
    recorder.set_segments(True)
    frames = video_frames(test_video)
    feed(recorder, frames[:20], T0, clips={5: 1})
    assert [m for m in out if isinstance(m, CameraFault)] == [CameraFault("disk_full", "0 MiB free", T0)]
    assert not (tmp_path / "footage" / "segments").exists()
    assert not (tmp_path / "footage" / "clips").exists()
    assert recorder.counts.values["clip_storage_fault"] == 1
    free["bytes"] = PLENTY
    feed(recorder, frames[20:], T0 + 2000)
    recorder.interrupt()
    assert out[1] == CameraFault("recovered", "storage writable again", T0 + 2000)
    assert [m.frames for m in out if isinstance(m, SegmentFinished)] == [20, 10]


class StallingCapture:
    """A VideoCapture look-alike that delivers a few frames and then blocks in read()."""

    def __init__(self, frames: int, release_read: threading.Event) -> None:
        self._left = frames
        self._release = release_read

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self):
        if self._left > 0:
            self._left -= 1
            return True, marked_frame(self._left)
        self._release.wait(10)
        return False, None

    def release(self) -> None:
        pass


def next_message(handle: RecorderHandle, kind: type, timeout: float = 5.0):
    message = handle.next_message(kind, timeout)
    assert message is not None, f"no {kind.__name__} within {timeout} s"
    return message


def test_stalled_camera_is_a_fault_and_is_reopened(tmp_path):
    release = threading.Event()
    opened = []

    def open_stalling(source):
        opened.append(source)
        return StallingCapture(frames=3, release_read=release)

    cfg = config(
        tmp_path, source="cam", stall_seconds=0.3, retry_first_seconds=0.2, open_source=open_stalling
    )
    handle = RecorderHandle(cfg, in_process=False)
    handle.start()
    try:
        handle.send(SetCapture(capture=True, segments=True))
        fault = next_message(handle, CameraFault)
        assert fault.kind == "stalled"
        assert next_message(handle, CameraFault).kind == "recovered"  # reopened, frames again
        assert len(opened) >= 2
    finally:
        release.set()
        left = handle.stop()
    assert isinstance(left[-1], RecorderStopped)


def test_notify_never_waits_and_drops_when_full(tmp_path):
    handle = RecorderHandle(config(tmp_path), in_process=True, notice_queue_size=2)  # not started
    started = time.monotonic()
    accepted = [handle.notify(ClipRequest(n, T0 + n, "access_granted")) for n in range(1000)]
    assert time.monotonic() - started < 10  # a hang guard: 1000 waits of even 10 ms would trip it
    room = accepted.index(False)
    assert 2 <= room < 1000 and not any(accepted[room:])  # a page of pipe at least, then drops
    taken = handle.notices.take_all()
    assert taken[:2] == [ClipRequest(0, T0, "access_granted"), ClipRequest(1, T0 + 1, "access_granted")]
    assert len(taken) == room and handle.notices.take_all() == []
    assert handle.notify(ClipRequest(7, T0, "door_forced"))  # room again once read


@pytest.mark.slow  # a recorder process (OpenCV imported cold)
def test_recorder_process_reads_a_video_file_end_to_end(tmp_path):
    source = write_test_video(tmp_path / "camera.mp4", 25)
    cfg = config(
        tmp_path,
        source=str(source),
        segment_seconds=1,
        pre_event_seconds=0.5,
        post_event_seconds=0.5,
        retry_first_seconds=30,
        stall_seconds=5,
    )
    handle = RecorderHandle(cfg, in_process=True)
    handle.start()
    try:
        handle.send(SetCapture(capture=True, segments=True))
        first = next_message(handle, SegmentStarted, timeout=15)
        event_ms = first.start_ms + 500
        handle.notify(ClipRequest(42, event_ms, "access_granted"))
        assert next_message(handle, ClipFinished).event_id == 42
        fault = next_message(handle, CameraFault)  # the file ends: the camera stopped
        assert fault.kind == "no_frames"
    finally:
        left = handle.stop()
    assert isinstance(left[-1], RecorderStopped) and left[-1].cpu_seconds > 0
    clip = read_video(tmp_path / "footage" / "clips" / "event-42.mp4")
    numbers = [read_marker(f) for f in clip]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert numbers[0] <= 2 and numbers[-1] >= 8  # from before the event (~frame 5) to after
    segments = sorted((tmp_path / "footage" / "segments").rglob("*.mp4"))
    assert sum(len(read_video(s)) for s in segments) == 25


@pytest.mark.slow  # the non-looping run waits out its 2 s frame timeout
def test_a_looping_video_file_starts_again_instead_of_failing(tmp_path):
    from drivers.camera_loop import CaptureThread

    source = write_test_video(tmp_path / "short.avi", 5, fps=1000)  # paced at 1 ms a frame
    frames: queue.Queue = queue.Queue()
    for loop in (True, False):
        capture = CaptureThread(config(tmp_path, source=str(source), loop_video_file=loop), frames)
        capture.start()
        markers = []
        while len(markers) < 12 and capture.is_alive():
            try:
                markers.append(read_marker(frames.get(timeout=2)[1]))
            except queue.Empty:
                break
        capture.stop()
        capture.join(timeout=5)
        while not frames.empty():
            frames.get_nowait()
        if loop:
            assert markers[:12] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1] and capture.failure is None
        else:
            assert len(markers) == 5 and capture.failure[0] == "no_frames"
