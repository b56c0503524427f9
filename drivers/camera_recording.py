"""What both camera recorders share: segment timing, the clip table, storage health and counts.

The OpenCV recorder (drivers/camera.py) decodes the camera's frames and encodes them again;
the stream-copy recorder (drivers/camera_copy.py) re-wraps its H.264 packets. Both cut segments
at the same boundaries, keep event clips the same way, check free space the same way and
announce the same messages (drivers/camera_messages.py), so footage books need not know which
one wrote a file. Only what a frame is (a NumPy image, a PyAV packet) and how a file is opened,
written and timed differ: those are the hooks a recorder fills in below.

It imports neither OpenCV, NumPy nor PyAV: each recorder brings its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from drivers.camera_messages import (
    CameraFault,
    ClipFinished,
    Emit,
    RecorderConfig,
    SegmentFinished,
    SegmentStarted,
)


class MediaFile(Protocol):
    """One segment or clip file being written, as a recorder's file type keeps it."""

    relative: str  # its path under the footage directory
    frames: int
    first_ms: int | None  # the wall clock of its first and last frame, once one was written
    last_ms: int | None

    def close(self) -> int:
        """Finish the file; its size in bytes (0: nothing usable was written)."""
        ...


FrameT = TypeVar("FrameT")
FileT = TypeVar("FileT", bound=MediaFile)


class Ring(Protocol[FrameT]):
    """The recent frames a clip starts with (its `pre_event_seconds`)."""

    def append(self, at_ms: int, frame: FrameT) -> None: ...

    def since(self, start_ms: int) -> Iterable[tuple[int, FrameT]]: ...


@dataclass
class Counts:
    """What the recorder skipped or lost, by named reason."""

    values: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, times: int = 1) -> None:
        self.values[reason] = self.values.get(reason, 0) + times


@dataclass
class Clip(Generic[FileT]):
    event_id: int
    start_ms: int
    end_ms: int
    file: FileT | None = None


def segment_stem(at_ms: int) -> str:
    """`segments/<UTC date>/<HHMMSS>-<ms>`: the name both recorders give a segment."""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC)
    return stamp.strftime("segments/%Y-%m-%d/%H%M%S-") + f"{at_ms % 1000:03d}"


class BaseRecorder(ABC, Generic[FrameT, FileT]):
    """Turns timestamped frames into segment files and event clips, and says what it wrote.

    A recorder says what a frame is and how its files are written (the abstract hooks); the
    loop (drivers/camera_loop.py) feeds it `on_frame` per frame and `interrupt` when the
    frames stop. Not thread-safe: the loop (or a test) feeds it from one thread.
    """

    def __init__(self, config: RecorderConfig, emit: Emit, ring: Ring[FrameT], extension: str) -> None:
        self._cfg = config
        self._root = Path(config.footage_dir)
        self._emit = emit
        self._ring = ring
        self._extension = extension
        self._segment_ms = int(config.segment_seconds * 1000)
        self._segments_on = False
        self._segment: FileT | None = None
        self._segment_ends_ms = 0
        self._clips: dict[int, Clip[FileT]] = {}
        self._storage_fault: str | None = None
        self._next_storage_check_ms = 0
        self.last_frame_ms: int | None = None
        self.counts = Counts()

    # --- what a recorder fills in ------------------------------------------------------
    @abstractmethod
    def _admit(self, frame: FrameT, at_ms: int) -> FrameT | None:
        """The frame to record (perhaps resized), or None to skip it."""

    @abstractmethod
    def _new_file(self, relative: str) -> FileT | None:
        """A new file at `relative`; None (after `_storage_failed`) when it cannot be opened."""

    @abstractmethod
    def _write(self, file: FileT, frame: FrameT, at_ms: int) -> bool:
        """Add the frame to the file; False (after `_storage_failed`) when writing failed."""

    @abstractmethod
    def _end_ms(self, file: FileT, last_ms: int) -> int:
        """The wall time a finished file's picture ends (its last frame was at `last_ms`)."""

    def _can_start_file(self, frame: FrameT) -> bool:
        """Whether a file may begin with this frame (a packet stream: only on a keyframe)."""
        return True

    # --- what the loop calls -----------------------------------------------------------
    def set_segments(self, on: bool) -> None:
        self._segments_on = on
        if not on:
            self._close_segment()

    def request_clip(self, event_id: int, at_ms: int) -> None:
        """Start a clip from `pre` before to `post` after; frames already in the ring go in now."""
        if event_id in self._clips:
            return
        if len(self._clips) >= self._cfg.max_concurrent_clips:
            self.counts.add("clip_too_many")
            return
        if self._storage_fault is not None:
            self.counts.add("clip_storage_fault")
            return
        clip: Clip[FileT] = Clip(
            event_id,
            at_ms - int(self._cfg.pre_event_seconds * 1000),
            at_ms + int(self._cfg.post_event_seconds * 1000),
        )
        self._clips[event_id] = clip
        for frame_ms, frame in self._ring.since(clip.start_ms):
            if frame_ms <= clip.end_ms and not self._write_clip(clip, frame, frame_ms):
                return
        if self.last_frame_ms is not None and self.last_frame_ms >= clip.end_ms:
            self._finish_clip(clip)

    def on_frame(self, frame: FrameT, at_ms: int) -> None:
        """One captured frame (or packet), stamped by the clock when it was read."""
        self.counts.add("frames_in")
        admitted = self._admit(frame, at_ms)
        if admitted is None:
            return
        self.last_frame_ms = at_ms
        self._ring.append(at_ms, admitted)
        for clip in list(self._clips.values()):
            if at_ms > clip.end_ms:
                self._finish_clip(clip)
        if not self._storage_usable(at_ms):
            return
        if self._segments_on:
            self._write_segment(admitted, at_ms)
        for clip in list(self._clips.values()):
            self._write_clip(clip, admitted, at_ms)

    def interrupt(self) -> None:
        """The frames stopped (camera fault, capture off, shutdown): finish every open file."""
        self._close_segment()
        for clip in list(self._clips.values()):
            self._finish_clip(clip)

    # --- segments and clips ------------------------------------------------------------
    def _write_segment(self, frame: FrameT, at_ms: int) -> None:
        if self._segment is not None and at_ms >= self._segment_ends_ms and self._can_start_file(frame):
            self._close_segment()
        if self._segment is None:
            if not self._can_start_file(frame):
                self.counts.add("segment_waits_for_keyframe")
                return
            self._segment = self._open(segment_stem(at_ms))
            if self._segment is None:
                return
            self._segment_ends_ms = (at_ms // self._segment_ms + 1) * self._segment_ms
            self._emit(SegmentStarted(self._segment.relative, at_ms))
        self._write(self._segment, frame, at_ms)

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        size = segment.close()
        if segment.first_ms is not None and segment.last_ms is not None and size:  # frames were written
            self._emit(
                SegmentFinished(
                    segment.relative,
                    segment.first_ms,
                    self._end_ms(segment, segment.last_ms),
                    segment.frames,
                    size,
                )
            )
        else:
            self._storage_failed("write_error", f"{segment.relative} is empty", segment.last_ms or 0)

    def _write_clip(self, clip: Clip[FileT], frame: FrameT, at_ms: int) -> bool:
        if self._clips.get(clip.event_id) is not clip:  # finished meanwhile (storage fault)
            return False
        if clip.file is None:
            if not self._can_start_file(frame):
                return True  # the clip starts at the next frame a file may begin with
            clip.file = self._open(f"clips/event-{clip.event_id}")
            if clip.file is None:
                self._clips.pop(clip.event_id, None)
                return False
        return self._write(clip.file, frame, at_ms)

    def _finish_clip(self, clip: Clip[FileT]) -> None:
        self._clips.pop(clip.event_id, None)
        if clip.file is None:
            self.counts.add("clip_without_frames")
            return
        size = clip.file.close()
        if clip.file.first_ms is not None and clip.file.last_ms is not None and size:  # frames were written
            self._emit(
                ClipFinished(
                    clip.event_id,
                    clip.file.relative,
                    clip.file.first_ms,
                    self._end_ms(clip.file, clip.file.last_ms),
                    clip.file.frames,
                    size,
                )
            )

    def _open(self, stem: str) -> FileT | None:
        """A new file named after `stem`, numbered when that name is taken."""
        relative = f"{stem}.{self._extension}"
        n = 1
        while (self._root / relative).exists():
            relative, n = f"{stem}-{n}.{self._extension}", n + 1
        return self._new_file(relative)

    # --- storage health ----------------------------------------------------------------
    def _storage_usable(self, at_ms: int) -> bool:
        """Checks free space about once a second; a fault closes the files until it clears."""
        if at_ms >= self._next_storage_check_ms:
            self._next_storage_check_ms = at_ms + 1000
            try:
                free = self._cfg.free_bytes(self._root)
            except OSError as exc:
                self._storage_failed("write_error", str(exc), at_ms)
                return False
            if free < self._cfg.min_free_bytes:
                self._storage_failed("disk_full", f"{free // 2**20} MiB free", at_ms)
            elif self._storage_fault is not None:
                self._storage_fault = None
                self._emit(CameraFault("recovered", "storage writable again", at_ms))
        return self._storage_fault is None

    def _storage_failed(self, kind: str, detail: str, at_ms: int) -> None:
        if self._storage_fault is None:
            self._emit(CameraFault(kind, detail, at_ms))
        self._storage_fault = kind
        self._next_storage_check_ms = at_ms + 1000
        self.interrupt()
