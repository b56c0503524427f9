"""Video files and frame buffers for the camera: codec probe, resizing writer, JPEG ring, rate cap.

OpenCV's VideoWriter silently drops frames of the wrong size and not every fourcc works in
every build (the pip wheel has mp4v and MJPG, no H.264), hence the probe and the resize.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Codec:
    fourcc: str
    extension: str


CODECS = (Codec("mp4v", "mp4"), Codec("MJPG", "avi"))


def probe_codec(directory: Path, candidates: tuple[Codec, ...] = CODECS) -> Codec:
    """The first codec this OpenCV build really writes and reads back (checked once at start)."""
    directory.mkdir(parents=True, exist_ok=True)
    frame = np.zeros((48, 64, 3), np.uint8)
    for codec in candidates:
        probe = directory / f".codec-probe.{codec.extension}"
        try:
            writer = cv2.VideoWriter(str(probe), cv2.VideoWriter.fourcc(*codec.fourcc), 10, (64, 48))
            if writer.isOpened():
                for _ in range(3):
                    writer.write(frame)
                writer.release()
                reader = cv2.VideoCapture(str(probe))
                readable = reader.read()[0]
                reader.release()
                if readable:
                    return codec
        finally:
            probe.unlink(missing_ok=True)
    raise OSError(f"no working video codec in {[c.fourcc for c in candidates]}")


def fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest even size within the cap with the source's aspect ratio."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class VideoFile:
    """One output file; frames of another size are resized (VideoWriter would drop them)."""

    def __init__(self, root: Path, relative: str, codec: Codec, fps: float, size: tuple[int, int]) -> None:
        self.relative = relative
        self.path = root / relative
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = size
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*codec.fourcc), fps, size)
        if not self._writer.isOpened():
            raise OSError(f"cannot open {self.path} for writing")
        self.frames = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None

    def write(self, image: np.ndarray, at_ms: int) -> None:
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1
        self.first_ms = at_ms if self.first_ms is None else self.first_ms
        self.last_ms = at_ms

    def close(self) -> int:
        """Finish the file; its size in bytes (0 means the write failed)."""
        self._writer.release()
        return self.path.stat().st_size if self.path.exists() else 0


class FrameRing:
    """The last `seconds` of frames, JPEG-compressed so memory stays small at any resolution."""

    def __init__(self, seconds: float, jpeg_quality: int = 85) -> None:
        self._span_ms = int(seconds * 1000)
        self._params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        self._frames: list[tuple[int, np.ndarray]] = []

    def append(self, at_ms: int, image: np.ndarray) -> None:
        if self._span_ms <= 0:
            return
        ok, encoded = cv2.imencode(".jpg", image, self._params)
        if ok:
            self._frames.append((at_ms, encoded))
        cutoff = at_ms - self._span_ms
        while self._frames and self._frames[0][0] < cutoff:
            self._frames.pop(0)

    def since(self, start_ms: int) -> Iterator[tuple[int, np.ndarray]]:
        for at_ms, encoded in list(self._frames):
            if at_ms >= start_ms:
                image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
                if image is not None:  # None only if the JPEG we made is corrupt: skip that frame
                    yield at_ms, image

    def __len__(self) -> int:
        return len(self._frames)


class FrameRateCap:
    """Keeps at most `fps` frames a second on average, tolerant of a jittery source."""

    def __init__(self, fps: float) -> None:
        self._interval_ms = 1000.0 / fps
        self._next_ms: float | None = None

    def keep(self, at_ms: int) -> bool:
        if self._next_ms is not None and at_ms < self._next_ms - self._interval_ms / 4:
            return False
        if self._next_ms is None or at_ms > self._next_ms + self._interval_ms:
            self._next_ms = at_ms + self._interval_ms  # first frame, or behind: restart from this one
        else:
            self._next_ms += self._interval_ms
        return True


BROWSER_CODEC = Codec("VP80", "webm")  # what every browser's <video> plays; the wheel writes it


def transcode_for_browser(source: Path, target: Path, max_width: int = 640) -> Path:
    """A WebM/VP8 copy of a recorded file for <video> in a browser (mp4v and MJPG don't play).

    Recording stays on the cheap codecs: VP8 costs too much CPU for continuous 720p on a Pi,
    but a short clip, downscaled, is encoded in a few seconds when someone wants to watch it.
    """
    reader = cv2.VideoCapture(str(source))
    try:
        fps = reader.get(cv2.CAP_PROP_FPS) or 10.0
        width = int(reader.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise OSError(f"{source}: not a readable video")
        size = fit_within(width, height, max_width, max_width)
        partial = target.with_suffix(".partial.webm")
        target.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*BROWSER_CODEC.fourcc), fps, size)
        if not writer.isOpened():
            raise OSError("this OpenCV build cannot write VP8/WebM")
        try:
            while True:
                ok, frame = reader.read()
                if not ok:
                    break
                writer.write(cv2.resize(frame, size) if frame.shape[1::-1] != size else frame)
        finally:
            writer.release()
    finally:
        reader.release()
    partial.replace(target)
    return target
