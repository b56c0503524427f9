"""What the door side and the camera recorder say to each other, and the recorder's configuration.

Picklable messages and settings only, without OpenCV or NumPy: the door process imports this
module (controller/services/footage*.py) and must not carry the ~75 MB those two cost, since
frames are only ever handled in the recorder's own process (drivers/camera_loop.py) or the web
process's browser transcode (drivers/camera_files.py). tests/test_door_imports.py keeps it so.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import queue
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np

# The recorder's own clock type: drivers import nothing from controller/ (the controller
# passes its clock in; the default is the real one).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock: an aware UTC datetime."""
    return datetime.now(UTC)


# --- messages in (commands are never dropped; clip requests may be) ------------------------
@dataclass(frozen=True)
class SetCapture:
    """Run the camera (`capture`) and, while it runs, write continuous segments (`segments`)."""

    capture: bool
    segments: bool


@dataclass(frozen=True)
class ClipRequest:
    """Write a clip around `at_ms` (UTC ms) for event `event_id`."""

    event_id: int
    at_ms: int
    kind: str


@dataclass(frozen=True)
class Stop:
    """Finish the open files and end the recorder."""


# --- messages out -------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentStarted:
    path: str  # relative to the footage directory, '/'-separated
    start_ms: int


@dataclass(frozen=True)
class SegmentFinished:
    path: str
    start_ms: int  # first frame
    end_ms: int  # last frame + one frame interval
    frames: int
    bytes: int


@dataclass(frozen=True)
class ClipFinished:
    event_id: int
    path: str
    start_ms: int
    end_ms: int
    frames: int
    bytes: int


@dataclass(frozen=True)
class CameraFault:
    """kind: open_failed, no_frames, stalled, disk_full, write_error, or recovered."""

    kind: str
    detail: str
    at_ms: int


@dataclass(frozen=True)
class RecorderStopped:
    """Sent last; cpu_seconds is this process's CPU time (the whole process in thread mode)."""

    cpu_seconds: float
    counts: dict[str, int]


RecorderMessage = SegmentStarted | SegmentFinished | ClipFinished | CameraFault | RecorderStopped
Emit = Callable[[RecorderMessage], None]


class FrameSource(Protocol):
    """What the recorder needs of a cv2.VideoCapture (tests pass look-alikes)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop: int) -> float: ...
    def set(self, prop: int, value: float) -> bool: ...
    def release(self) -> None: ...


def open_source(source: int | str, timeout_ms: int = 5000) -> FrameSource:
    """A cv2.VideoCapture for a camera index, an RTSP/HTTP URL or a video file path.

    Network streams get open and read timeouts so a dead camera returns an error
    instead of blocking forever (the recorder's stall watchdog covers the rest).
    """
    import cv2  # here, in the process that reads frames: the door process never loads OpenCV

    if isinstance(source, str) and "://" in source:
        return cv2.VideoCapture(
            source,
            cv2.CAP_ANY,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
        )
    return cv2.VideoCapture(source)


def is_file_source(source: int | str) -> bool:
    """A file is replayed at its own frame rate, as a live camera would deliver it."""
    return isinstance(source, str) and "://" not in source and Path(source).is_file()


def disk_free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


@dataclass(frozen=True)
class RecorderConfig:
    """Everything the recorder needs; picklable (module-level callables) so spawn can pass it."""

    source: int | str
    footage_dir: Path
    segment_seconds: float = 300.0
    pre_event_seconds: float = 10.0
    post_event_seconds: float = 10.0
    max_width: int = 1280
    max_height: int = 720
    max_fps: float = 10.0
    stall_seconds: float = 5.0
    retry_first_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    min_free_bytes: int = 500 * 1024 * 1024
    max_concurrent_clips: int = 4
    ring_jpeg_quality: int = 85
    loop_video_file: bool = False  # replay a file source from its start when it ends
    # "copy": the camera's H.264 packets stored as they come (drivers/camera_copy.py);
    # "decode": OpenCV decodes, resizes and re-encodes each frame (drivers/camera.py).
    mode: Literal["copy", "decode"] = "decode"
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic
    open_source: Callable[[int | str], FrameSource] = open_source
    free_bytes: Callable[[Path], int] = disk_free_bytes


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class NoticePipe:
    """Clip requests as fixed 32-byte records on a pipe whose writing end never blocks.

    One write() of fewer than PIPE_BUF bytes is atomic, so a notice is sent whole or not at
    all: no lock, no pickling, no feeder thread competing with the door thread for the GIL.
    A full pipe drops the notice (the caller counts it). Both ends survive spawn pickling.
    """

    RECORD = struct.Struct("<qq16s")

    def __init__(self, capacity: int = 256) -> None:
        self._reader, self._writer = multiprocessing.Pipe(duplex=False)
        os.set_blocking(self._writer.fileno(), False)
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room for `capacity` notices (a page at least)
            try:
                fcntl.fcntl(self._writer.fileno(), fcntl.F_SETPIPE_SZ, capacity * self.RECORD.size)
            except OSError:
                pass

    def put_nowait(self, request: ClipRequest) -> bool:
        record = self.RECORD.pack(request.event_id, request.at_ms, request.kind.encode()[:16])
        try:
            return os.write(self._writer.fileno(), record) == len(record)
        except OSError:  # full (BlockingIOError), reader gone, or closed
            return False

    def close(self) -> None:
        self._writer.close()
        self._reader.close()

    def take_all(self) -> list[ClipRequest]:
        """Every waiting notice, without blocking (recorder side)."""
        fd = self._reader.fileno()
        os.set_blocking(fd, False)
        requests: list[ClipRequest] = []
        while True:
            try:
                data = os.read(fd, 128 * self.RECORD.size)
            except BlockingIOError:
                return requests
            if not data:
                return requests
            for event_id, at_ms, kind in self.RECORD.iter_unpack(data):
                requests.append(ClipRequest(event_id, at_ms, kind.rstrip(b"\0").decode()))


class Worker(Protocol):
    """A child process or, in tests, a thread standing in for one."""

    def is_alive(self) -> bool: ...
    def join(self, timeout: float | None = None) -> None: ...


def collect_until_stopped(output: Any, worker: Worker, last: type, timeout: float) -> list[Any]:
    """The messages a stopping worker still puts on `output` (a queue), up to its `last` kind
    (its goodbye) or its end; then it is joined, and terminated if it is still there at
    `timeout`. One way for the recorder and the line counter to stop their processes."""
    left: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = output.get(timeout=0.05)
        except queue.Empty:
            if not worker.is_alive():
                break
            continue
        left.append(message)
        if isinstance(message, last):
            break
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive() and hasattr(worker, "terminate"):
        worker.terminate()
    return left
