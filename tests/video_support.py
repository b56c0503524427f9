"""Generated door-camera video with known crossings, for the line counter's tests and bench.

A static textured background with fresh sensor noise in every frame, and people-sized bright or
dark ellipses walking along straight paths (seen from above the door). The counting line is the
horizontal middle of the picture; walking down is "in". Each walker knows whether it crosses,
so a scene knows how many ins and outs a perfect counter would report.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 360, 12
PERSON = (0.045, 0.11)  # ellipse half-axes as fractions of width and height (about 58 x 80 px)
SPEED = 0.045  # fraction of the height per frame: ~1.3 m/s over a 3.5 m view at 12 fps
TOP, BOTTOM = -0.15, 1.15  # paths start and end just outside the picture


@dataclass(frozen=True)
class Walker:
    """Someone walking from waypoint to waypoint at SPEED, starting at frame `start`."""

    start: int
    path: tuple[tuple[float, float], ...]  # (x, y) fractions of the picture
    shade: int = 230  # bright clothes 200-240, dark ones 20-50

    def position(self, frame: int) -> tuple[float, float] | None:
        """Where the walker is at `frame`, or None before the start or after the end."""
        travelled = (frame - self.start) * SPEED
        if travelled < 0:
            return None
        for (x0, y0), (x1, y1) in zip(self.path, self.path[1:], strict=False):
            length = math.hypot(x1 - x0, y1 - y0)
            if travelled <= length:
                part = travelled / length if length else 1.0
                return x0 + (x1 - x0) * part, y0 + (y1 - y0) * part
            travelled -= length
        return None

    @property
    def end(self) -> int:
        length = sum(
            math.hypot(x1 - x0, y1 - y0) for (x0, y0), (x1, y1) in zip(self.path, self.path[1:], strict=False)
        )
        return self.start + math.ceil(length / SPEED) + 1

    @property
    def direction(self) -> str | None:
        """ "in" (top to bottom), "out" (bottom to top) or None (turns back or stays on one side)."""
        first, last = self.path[0][1], self.path[-1][1]
        if first < 0.5 < last:
            return "in"
        if last < 0.5 < first:
            return "out"
        return None


def walking_in(start: int, x: float = 0.5, shade: int = 230) -> Walker:
    return Walker(start, ((x, TOP), (x, BOTTOM)), shade)


def walking_out(start: int, x: float = 0.5, shade: int = 230) -> Walker:
    return Walker(start, ((x, BOTTOM), (x, TOP)), shade)


def turning_back(start: int, x: float = 0.5, turn_at: float = 0.52, shade: int = 230) -> Walker:
    """Walks in, reaches `turn_at` (just past the line's centre) and walks back out the way it came."""
    return Walker(start, ((x, TOP), (x, turn_at), (x, TOP)), shade)


@dataclass
class Scene:
    walkers: list[Walker] = field(default_factory=list)
    size: tuple[int, int] = (WIDTH, HEIGHT)
    fps: int = FPS
    noise: float = 5.0  # sensor noise, grey levels (standard deviation)
    seed: int = 7
    lead_in: int = 12  # empty frames first: the background model learns the room

    @property
    def frame_count(self) -> int:
        return max((walker.end for walker in self.walkers), default=0) + self.lead_in

    def expected(self) -> dict[str, int]:
        counts = {"in": 0, "out": 0}
        for walker in self.walkers:
            if walker.direction is not None:
                counts[walker.direction] += 1
        return counts

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """(timestamp in ms from 0, BGR frame) for every frame of the scene."""
        width, height = self.size
        rng = np.random.default_rng(self.seed)
        texture = rng.integers(70, 170, (height // 8, width // 8), np.uint8)
        background = cv2.GaussianBlur(
            cv2.resize(texture, self.size, interpolation=cv2.INTER_LINEAR), (5, 5), 0
        ).astype(np.int16)
        noise_pool = rng.normal(0, self.noise, (8, height, width)).astype(
            np.int16
        )  # cheap fresh-looking noise
        axes = (round(PERSON[0] * width), round(PERSON[1] * height))
        for n in range(self.frame_count):
            picture = background.copy()
            for walker in self.walkers:
                where = walker.position(n - self.lead_in)
                if where is not None:
                    centre = (round(where[0] * width), round(where[1] * height))
                    cv2.ellipse(picture, centre, axes, 0, 0, 360, walker.shade, -1)
            shift = n % 8, (n * 37) % width
            picture += np.roll(noise_pool[shift[0]], shift[1], axis=1)
            grey = np.clip(picture, 0, 255).astype(np.uint8)
            yield n * 1000 // self.fps, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)

    def write(self, path: Path) -> Path:
        """The scene as an mp4v file, as a camera's recording would come."""
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        assert writer.isOpened(), f"cannot write {path}"
        for _at_ms, frame in self.frames():
            writer.write(frame)
        writer.release()
        return path


def generated_set(crossings: int = 24, seed: int = 5) -> Scene:
    """A sequence with at least `crossings` crossings: people in and out one after another,
    pairs side by side, people passing each other in opposite lanes, bright and dark clothes,
    and now and then someone who turns back at the line (not a crossing)."""
    rng = random.Random(seed)
    walkers: list[Walker] = []
    start = 0
    while sum(walker.direction is not None for walker in walkers) < crossings:
        shade = rng.choice((215, 235, 30, 45))
        kind = rng.choice(("in", "out", "in", "out", "pair", "passing", "turn"))
        x = rng.uniform(0.25, 0.75)
        if kind == "in":
            walkers.append(walking_in(start, x, shade))
        elif kind == "out":
            walkers.append(walking_out(start, x, shade))
        elif kind == "pair":
            walkers += [walking_in(start, 0.36, shade), walking_in(start, 0.6, rng.choice((220, 35)))]
        elif kind == "passing":
            walkers += [walking_in(start, 0.25, shade), walking_out(start, 0.75, rng.choice((220, 35)))]
        else:
            walkers.append(turning_back(start, x, rng.uniform(0.45, 0.56), shade))
        start = max(walker.end for walker in walkers) + rng.randint(-4, 6)  # sometimes overlapping
    return Scene(walkers)
