"""Counts people crossing a line in a camera picture, for branches without break-beams.

Background subtraction (OpenCV MOG2) on a small grey copy of each frame, blobs cleaned by
morphology and kept above a minimum area, a nearest-neighbour centroid tracker, and a counting
line with a hysteresis band: a person is counted when their track moves from one side of the
band to the other, so someone who walks up to the line and turns back is not counted, and two
people walking side by side are two blobs (two counts) as long as a gap shows between them.

It costs a few milliseconds a frame, so it runs in the recorder's process or its own
(drivers/line_counter_runner.py), never in the door process.

Interface (what the service that turns crossings into occupancy and tailgating uses):

    counter = LineCounter(CounterConfig(line=CountingLine("horizontal", 0.5, "down")),
                          on_crossing=callback)          # callback optional
    crossings = counter.feed(frame, at_ms)               # BGR or grey ndarray, any size
    # -> list[Crossing]; each also passed to `callback` as it is found
    Crossing(direction="in" | "out", at_ms=<the frame's UTC ms>, track_id=<int>)
    counter.totals -> {"in": n, "out": m}

`at_ms` is whatever timestamp the caller gives the frame (the recorder stamps frames with its
injected clock in UTC ms; the runner does the same), so the counter itself reads no clock.
Not thread-safe: one thread feeds it. drivers import nothing from controller/.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

Direction = Literal["in", "out"]

_TOWARDS_BY_ORIENTATION = {"horizontal": ("down", "up"), "vertical": ("right", "left")}


@dataclass(frozen=True)
class CountingLine:
    """Where the line is and which way is "in".

    orientation: "horizontal" (people cross moving up or down the picture) or "vertical"
    (moving left or right). position: where the line lies, as a fraction of the picture's
    height (horizontal) or width (vertical). in_towards: the direction of movement that is
    "in": "down"/"up" for a horizontal line, "right"/"left" for a vertical one.
    hysteresis: half the width of the band around the line, as a fraction of the same
    dimension; a track must leave the band on the far side to count.
    """

    orientation: str = "horizontal"
    position: float = 0.5
    in_towards: str = "down"
    hysteresis: float = 0.08

    def __post_init__(self) -> None:
        allowed = _TOWARDS_BY_ORIENTATION.get(self.orientation)
        if allowed is None:
            raise ValueError(
                f"counting line orientation {self.orientation!r}: expected 'horizontal' or 'vertical'"
            )
        if self.in_towards not in allowed:
            raise ValueError(
                f"counting line in_towards {self.in_towards!r}: a {self.orientation} "
                f"line is crossed {allowed[0]!r} or {allowed[1]!r}"
            )
        if not 0.0 < self.position < 1.0:
            raise ValueError(f"counting line position {self.position}: expected a fraction between 0 and 1")
        if not 0.0 <= self.hysteresis < min(self.position, 1.0 - self.position):
            raise ValueError(
                f"counting line hysteresis {self.hysteresis}: the band must lie inside "
                "the picture (0 <= hysteresis < distance from the line to the edge)"
            )

    def side(self, x: float, y: float) -> int:
        """-1 before the band, +1 past it, 0 inside it (x, y are fractions of the picture)."""
        along = y if self.orientation == "horizontal" else x
        if along < self.position - self.hysteresis:
            return -1
        if along > self.position + self.hysteresis:
            return 1
        return 0

    def direction(self, from_side: int, to_side: int) -> Direction:
        """Moving from side -1 to +1 is down/right."""
        forwards = to_side > from_side
        return "in" if forwards == (self.in_towards in ("down", "right")) else "out"


@dataclass(frozen=True)
class CounterConfig:
    """Tuning; the defaults suit a camera above or beside the door seeing people 1/10 of its width.

    Areas and distances are fractions of the processed picture, so they hold at any resolution.
    """

    line: CountingLine = field(default_factory=CountingLine)
    process_width: int = 320  # frames are shrunk to this width (never enlarged) before anything else
    min_area: float = 0.004  # smaller blobs are noise, a hand or a bag
    max_area: float = 0.5  # bigger ones are a light switched on or the camera knocked
    max_distance: float = 0.15  # how far (fraction of the diagonal) a person moves between frames
    max_missed: int = 4  # frames a track survives without a blob (an occlusion, a dim frame)
    min_age: int = 2  # frames a track must have been seen before its crossing counts
    warmup_frames: int = 5  # the model learns the background first (its first frame is all foreground)
    history: int = 300  # MOG2 frames of memory: someone standing still fades in after ~history frames
    var_threshold: float = 25.0  # MOG2 squared distance for foreground; above the sensor noise
    open_px: int = 3  # opening removes speckle noise
    close_px: int = 5  # closing fills a blob's holes; small enough not to bridge two people

    def __post_init__(self) -> None:
        if self.process_width < 32:
            raise ValueError(f"counter process_width {self.process_width}: at least 32 pixels")
        if not 0.0 < self.min_area < self.max_area <= 1.0:
            raise ValueError(
                f"counter areas min {self.min_area}, max {self.max_area}: "
                "expected 0 < min_area < max_area <= 1"
            )
        if not 0.0 < self.max_distance <= 1.0:
            raise ValueError(f"counter max_distance {self.max_distance}: expected a fraction in (0, 1]")
        if self.max_missed < 0 or self.min_age < 1 or self.warmup_frames < 1:
            raise ValueError("counter max_missed >= 0, min_age >= 1 and warmup_frames >= 1 expected")


@dataclass(frozen=True)
class Crossing:
    """One person crossed the line; at_ms is the timestamp of the frame it was seen in."""

    direction: Direction
    at_ms: int
    track_id: int


@dataclass
class Track:
    """One blob followed from frame to frame; x, y are fractions of the picture."""

    track_id: int
    x: float
    y: float
    side: int  # the last side of the band it was seen on (0: not yet outside the band)
    side_before: int = 0  # its side before the frame it was last seen in
    age: int = 1  # frames it was seen in
    missed: int = 0  # frames since it was last seen


@dataclass(frozen=True)
class Blob:
    x: float
    y: float
    area: float


class LineCounter:
    """Feed it frames in order; it reports who crossed the line, and which way."""

    def __init__(
        self, config: CounterConfig | None = None, on_crossing: Callable[[Crossing], None] | None = None
    ) -> None:
        # OpenCV is imported where frames are handled (here and below), not at the top: the door
        # process imports this module for CounterConfig and must not load it (~75 MB).
        import cv2

        self.config = config or CounterConfig()
        self._on_crossing = on_crossing
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=self.config.history, varThreshold=self.config.var_threshold, detectShadows=False
        )
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (self.config.open_px,) * 2)
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (self.config.close_px,) * 2)
        self._size: tuple[int, int] | None = None  # processed (width, height)
        self._aspect = 1.0  # height / width, to measure distances in the picture, not in fractions
        self._frames = 0
        self._next_id = 1
        self.tracks: list[Track] = []
        self.totals: dict[str, int] = {"in": 0, "out": 0}

    def feed(self, frame: np.ndarray, at_ms: int) -> list[Crossing]:
        """One frame (BGR or grey, same size each time) stamped `at_ms`; the crossings it completed."""
        grey = self._prepare(frame)
        mask = self._subtractor.apply(grey)
        self._frames += 1
        if self._frames <= self.config.warmup_frames:
            return []
        return self._update(self.blobs(mask), at_ms)

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 2 and not (frame.ndim == 3 and frame.shape[2] in (3, 4)):
            raise ValueError(f"counter frame of shape {frame.shape}: expected grey or BGR(A)")
        import cv2  # loaded by __init__ already: a dictionary look-up a frame

        if self._size is None:
            height, width = frame.shape[:2]
            scale = min(1.0, self.config.process_width / width)
            self._size = (max(1, round(width * scale)), max(1, round(height * scale)))
            self._aspect = self._size[1] / self._size[0]
        grey = (
            frame
            if frame.ndim == 2
            else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
        )
        if (grey.shape[1], grey.shape[0]) != self._size:
            grey = cv2.resize(grey, self._size, interpolation=cv2.INTER_AREA)
        return grey

    def blobs(self, mask: np.ndarray) -> list[Blob]:
        """The people-sized foreground blobs of a MOG2 mask, after opening and closing."""
        import cv2  # loaded by __init__ already

        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        count, _labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        height, width = mask.shape
        pixels = float(width * height)
        found = []
        for label in range(1, count):  # 0 is the background
            area = stats[label, cv2.CC_STAT_AREA] / pixels
            if self.config.min_area <= area <= self.config.max_area:
                found.append(
                    Blob(float(centroids[label][0]) / width, float(centroids[label][1]) / height, area)
                )
        return found

    def _distance(self, track: Track, blob: Blob) -> float:
        """Distance in fractions of the picture's diagonal (so the aspect ratio counts)."""
        return math.hypot(track.x - blob.x, (track.y - blob.y) * self._aspect) / math.hypot(1.0, self._aspect)

    def _update(self, blobs: list[Blob], at_ms: int) -> list[Crossing]:
        pairs = sorted(
            (self._distance(track, blob), t, b)
            for t, track in enumerate(self.tracks)
            for b, blob in enumerate(blobs)
        )
        matched_tracks: set[int] = set()
        matched_blobs: set[int] = set()
        crossings: list[Crossing] = []
        for distance, t, b in pairs:  # greedy nearest first: good enough for a few people
            if distance > self.config.max_distance:
                break
            if t in matched_tracks or b in matched_blobs:
                continue
            matched_tracks.add(t)
            matched_blobs.add(b)
            crossing = self._move(self.tracks[t], blobs[b], at_ms)
            if crossing is not None:
                crossings.append(crossing)
        survivors = []
        for t, track in enumerate(self.tracks):
            if t not in matched_tracks:
                track.missed += 1
            if track.missed <= self.config.max_missed:
                survivors.append(track)
        born = [
            self._birth(blob, [self.tracks[t] for t in matched_tracks])
            for b, blob in enumerate(blobs)
            if b not in matched_blobs
        ]
        self.tracks = survivors + born
        for crossing in crossings:
            self.totals[crossing.direction] += 1
            if self._on_crossing is not None:
                self._on_crossing(crossing)
        return crossings

    def _move(self, track: Track, blob: Blob, at_ms: int) -> Crossing | None:
        track.x, track.y = blob.x, blob.y
        track.age += 1
        track.missed = 0
        track.side_before = track.side
        side = self.config.line.side(blob.x, blob.y)
        if side == 0 or side == track.side:
            return None
        before, track.side = track.side, side
        if before == 0 or track.age < self.config.min_age:
            return None
        return Crossing(self.config.line.direction(before, side), at_ms, track.track_id)

    def _birth(self, blob: Blob, moving: list[Track]) -> Track:
        """A new track. One that split off a track seen this frame (two people who walked
        close together and now show a gap) starts on the side that track came from, so when
        the split happens in or just past the band, both people count."""
        side = self.config.line.side(blob.x, blob.y)
        near = [track for track in moving if self._distance(track, blob) <= self.config.max_distance]
        if near:
            came_from = min(near, key=lambda track: self._distance(track, blob)).side_before
            if came_from != 0:
                side = came_from
        track = Track(self._next_id, blob.x, blob.y, side)
        self._next_id += 1
        return track
