"""What the camera line counter costs and how well it counts (issue 16): CPU seconds per second of
video at 640x360 12 fps, and its counts against the known crossings of generated door video
(tests/video_support.py: people-sized blobs walking in and out, pairs side by side, people
passing, some turning back at the line) over several generated sets.

Only the counter is timed (time.process_time around LineCounter.feed), not drawing the frames;
OpenCV runs on one thread, as in the counter's own process (drivers/line_counter_runner.py).
Prints `name: value unit` lines; the last line is the headline (counting_cpu_per_video_s).
Target: under 0.25 s/s. Takes about a minute.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.line_counter import LineCounter
from tests.video_support import FPS, HEIGHT, WIDTH, generated_set

SETS = (5, 6, 7, 8)  # seeds of the generated sets
CROSSINGS_PER_SET = 24


def main() -> None:
    cv2.setNumThreads(1)
    cpu = 0.0
    frames = 0
    per_frame_ms: list[float] = []
    expected_total = errors = 0
    for seed in SETS:
        scene = generated_set(CROSSINGS_PER_SET, seed)
        expected = scene.expected()
        counter = LineCounter()
        for at_ms, frame in scene.frames():
            started = time.process_time()
            counter.feed(frame, at_ms)
            used = time.process_time() - started
            cpu += used
            per_frame_ms.append(used * 1000)
            frames += 1
        expected_total += expected["in"] + expected["out"]
        errors += abs(counter.totals["in"] - expected["in"]) + abs(counter.totals["out"] - expected["out"])
    video_seconds = frames / FPS
    per_frame_ms.sort()
    print(f"counting_resolution: {WIDTH}x{HEIGHT} px")
    print(f"counting_fps: {FPS} fps")
    print(f"counting_video: {video_seconds:.1f} s")
    print(f"counting_frame_p50: {per_frame_ms[len(per_frame_ms) // 2]:.2f} ms")
    print(f"counting_frame_p99: {per_frame_ms[math.ceil(0.99 * len(per_frame_ms)) - 1]:.2f} ms")
    print(f"counting_crossings: {expected_total} crossings")
    print(f"counting_errors: {errors} crossings")
    print(f"counting_errors_per_20: {20 * errors / expected_total:.2f} crossings")
    print(f"counting_cpu_per_video_s: {cpu / video_seconds:.3f} s/s")


if __name__ == "__main__":
    main()
