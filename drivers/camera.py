"""The entrance camera's recording core: timestamped frames in, segment files and event clips out.

It runs inside the recorder process (drivers/camera_loop.py) so a slow camera or disk can
never hold up the door. It never touches the database: it announces what it wrote, and what
went wrong, as small picklable messages (drivers/camera_messages.py, free of OpenCV so the door
process can import them); controller/services/footage.py decides when to record and keeps the
books.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from drivers.camera_files import Codec, FrameRateCap, FrameRing, VideoFile, fit_within
from drivers.camera_messages import (
    CameraFault,
    ClipFinished,
    Emit,
    RecorderConfig,
    SegmentFinished,
    SegmentStarted,
)


@dataclass
class _Clip:
    event_id: int
    start_ms: int
    end_ms: int
    file: VideoFile | None = None


@dataclass
class Counts:
    """What the recorder skipped or lost, by named reason."""

    values: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, times: int = 1) -> None:
        self.values[reason] = self.values.get(reason, 0) + times


class Recorder:
    """Turns timestamped frames into segment files and event clips, and says what it wrote.

    Not thread-safe: the recorder loop (or a test) feeds it from one thread.
    """

    def __init__(self, config: RecorderConfig, codec: Codec, emit: Emit) -> None:
        self._cfg = config
        self._root = Path(config.footage_dir)
        self._codec = codec
        self._emit = emit
        self._interval_ms = int(round(1000 / config.max_fps))
        self._segment_ms = int(config.segment_seconds * 1000)
        self._ring = FrameRing(config.pre_event_seconds, config.ring_jpeg_quality)
        self._rate = FrameRateCap(config.max_fps)
        self._size: tuple[int, int] | None = None
        self._segments_on = False
        self._segment: VideoFile | None = None
        self._segment_ends_ms = 0
        self._clips: dict[int, _Clip] = {}
        self._storage_fault: str | None = None
        self._next_storage_check_ms = 0
        self.last_frame_ms: int | None = None
        self.counts = Counts()

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
        clip = _Clip(
            event_id,
            at_ms - int(self._cfg.pre_event_seconds * 1000),
            at_ms + int(self._cfg.post_event_seconds * 1000),
        )
        self._clips[event_id] = clip
        for frame_ms, image in self._ring.since(clip.start_ms):
            if frame_ms <= clip.end_ms and not self._write_clip(clip, image, frame_ms):
                return
        if self.last_frame_ms is not None and self.last_frame_ms >= clip.end_ms:
            self._finish_clip(clip)

    def on_frame(self, image: np.ndarray, at_ms: int) -> None:
        """One captured frame, stamped by the clock when it was read."""
        self.counts.add("frames_in")
        if not self._rate.keep(at_ms):
            self.counts.add("skipped_rate_cap")
            return
        if self._size is None:
            self._size = fit_within(image.shape[1], image.shape[0], self._cfg.max_width, self._cfg.max_height)
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self.last_frame_ms = at_ms
        self._ring.append(at_ms, image)
        for clip in list(self._clips.values()):
            if at_ms > clip.end_ms:
                self._finish_clip(clip)
        if not self._storage_usable(at_ms):
            return
        if self._segments_on:
            self._write_segment(image, at_ms)
        for clip in list(self._clips.values()):
            self._write_clip(clip, image, at_ms)

    def interrupt(self) -> None:
        """The frames stopped (camera fault, capture off, shutdown): finish every open file."""
        self._close_segment()
        for clip in list(self._clips.values()):
            self._finish_clip(clip)

    # --- segments and clips ------------------------------------------------------------
    def _write_segment(self, image: np.ndarray, at_ms: int) -> None:
        if self._segment is not None and at_ms >= self._segment_ends_ms:
            self._close_segment()
        if self._segment is None:
            stamp = datetime.fromtimestamp(at_ms / 1000, UTC)
            name = stamp.strftime("segments/%Y-%m-%d/%H%M%S-") + f"{at_ms % 1000:03d}"
            self._segment = self._open(name)
            if self._segment is None:
                return
            self._segment_ends_ms = (at_ms // self._segment_ms + 1) * self._segment_ms
            self._emit(SegmentStarted(self._segment.relative, at_ms))
        self._segment.write(image, at_ms)

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
                    segment.last_ms + self._interval_ms,
                    segment.frames,
                    size,
                )
            )
        else:
            self._storage_failed("write_error", f"{segment.relative} is empty", segment.last_ms or 0)

    def _write_clip(self, clip: _Clip, image: np.ndarray, at_ms: int) -> bool:
        if self._clips.get(clip.event_id) is not clip:  # finished meanwhile (storage fault)
            return False
        if clip.file is None:
            clip.file = self._open(f"clips/event-{clip.event_id}")
            if clip.file is None:
                self._clips.pop(clip.event_id, None)
                return False
        clip.file.write(image, at_ms)
        return True

    def _finish_clip(self, clip: _Clip) -> None:
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
                    clip.file.last_ms + self._interval_ms,
                    clip.file.frames,
                    size,
                )
            )

    def _open(self, stem: str) -> VideoFile | None:
        relative = f"{stem}.{self._codec.extension}"
        n = 1
        while (self._root / relative).exists():
            relative, n = f"{stem}-{n}.{self._codec.extension}", n + 1
        assert self._size is not None  # the first frame sets it; files are only opened for frames
        try:
            return VideoFile(self._root, relative, self._codec, self._cfg.max_fps, self._size)
        except (OSError, cv2.error) as exc:
            self._storage_failed("write_error", str(exc), self.last_frame_ms or 0)
            return None

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
