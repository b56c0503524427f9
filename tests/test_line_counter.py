"""The camera line counter (issue 16) on generated video with known crossings: people-sized blobs
walking in and out over a noisy still background, two side by side, one turning back at the line,
several in sequence; and a generated set of more than 20 crossings read back from an mp4v file
through the runner, counted within 1 per 20 crossings."""

from __future__ import annotations

import math
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from drivers.line_counter import CounterConfig, CountingLine, Crossing, LineCounter
from drivers.line_counter_runner import (
    CounterFault,
    CounterProcess,
    CounterRunnerConfig,
    CounterStopped,
    run_counter,
)
from tests.conftest import FakeClock
from tests.video_support import (
    BOTTOM,
    FPS,
    PERSON,
    TOP,
    Scene,
    Walker,
    generated_set,
    turning_back,
    walking_in,
    walking_out,
)

T0 = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def count(scene: Scene, config: CounterConfig | None = None) -> tuple[LineCounter, list[Crossing]]:
    counter = LineCounter(config)
    crossings = [crossing for at_ms, frame in scene.frames() for crossing in counter.feed(frame, at_ms)]
    return counter, crossings


def directions(crossings: list[Crossing]) -> list[str]:
    return [crossing.direction for crossing in crossings]


def test_one_person_walking_in_is_one_in_stamped_when_they_passed_the_band() -> None:
    scene = Scene([walking_in(0)])
    heard: list[Crossing] = []
    counter = LineCounter(on_crossing=heard.append)
    found = [c for at_ms, frame in scene.frames() for c in counter.feed(frame, at_ms)]

    assert directions(found) == ["in"] and heard == found and counter.totals == {"in": 1, "out": 0}
    # The band's far edge (0.58 of the height) is reached about (0.58 + 0.15) / SPEED frames in.
    leaves_band_ms = (scene.lead_in + (0.58 + 0.15) / 0.045) * 1000 / FPS
    assert abs(found[0].at_ms - leaves_band_ms) <= 3 * 1000 / FPS


def test_one_person_walking_out_is_one_out() -> None:
    counter, found = count(Scene([walking_out(0, shade=35)]))  # dark clothes on the mid-grey floor

    assert directions(found) == ["out"] and counter.totals == {"in": 0, "out": 1}


def test_two_walking_in_side_by_side_with_a_gap_are_two_ins() -> None:
    half_width = PERSON[0]
    gap = 24 / 640  # about a hand's width between their shoulders at 640 pixels
    left, right = 0.5 - half_width - gap / 2, 0.5 + half_width + gap / 2
    counter, found = count(Scene([walking_in(0, left), walking_in(0, right, shade=215)]))

    assert directions(found) == ["in", "in"] and len({c.track_id for c in found}) == 2


def test_two_walking_in_as_one_blob_who_part_at_the_line_are_two_ins() -> None:
    # Shoulder to shoulder (one blob) until just before the line, then apart: the second
    # person's track is born at the line and starts on the side the pair came from.
    pair = [
        Walker(0, ((0.47, TOP), (0.47, 0.45), (0.33, BOTTOM))),
        Walker(0, ((0.53, TOP), (0.53, 0.45), (0.67, BOTTOM)), 215),
    ]
    counter, found = count(Scene(pair))

    assert directions(found) == ["in", "in"] and counter.totals == {"in": 2, "out": 0}


@pytest.mark.parametrize("turn_at", [0.45, 0.5, 0.56])
def test_one_turning_back_at_the_line_is_not_counted(turn_at: float) -> None:
    counter, found = count(Scene([turning_back(0, 0.4, turn_at)]))

    assert found == [] and counter.totals == {"in": 0, "out": 0}


def test_several_in_sequence_are_counted_exactly_in_order() -> None:
    walkers = [
        walking_in(0, 0.3),
        walking_out(32, 0.6, shade=40),
        walking_in(64, 0.5, shade=220),
        turning_back(96, 0.55),
        walking_in(122, 0.7, shade=30),
        walking_out(154, 0.4),
    ]
    scene = Scene(walkers)
    counter, found = count(scene)

    assert directions(found) == ["in", "out", "in", "in", "out"]
    assert counter.totals == scene.expected() == {"in": 3, "out": 2}
    assert [c.at_ms for c in found] == sorted(c.at_ms for c in found)


def test_a_vertical_line_counts_people_walking_left_as_in() -> None:
    line = CountingLine("vertical", 0.5, "left")
    across = [Walker(0, ((1.1, 0.5), (-0.1, 0.5))), Walker(40, ((-0.1, 0.3), (1.1, 0.3)), 35)]
    counter, found = count(Scene(across), CounterConfig(line=line))

    assert directions(found) == ["in", "out"]


@pytest.mark.slow
def test_a_generated_set_from_an_mp4v_file_is_counted_within_one_per_twenty(tmp_path: Path) -> None:
    scene = generated_set(crossings=24, seed=11)
    expected = scene.expected()
    assert expected["in"] + expected["out"] >= 20
    assert any(w.direction is None for w in scene.walkers)  # it has someone turning back
    path = scene.write(tmp_path / "door.mp4")
    output: queue.Queue[object] = queue.Queue()
    clock = FakeClock(T0)

    run_counter(CounterRunnerConfig(str(path), clock=clock), output, threading.Event())

    messages = list(output.queue)
    crossings = [m for m in messages if isinstance(m, Crossing)]
    assert isinstance(messages[-1], CounterStopped) and messages[-1].reason == "source_ended"
    assert messages[-1].frames == scene.frame_count
    wrong = abs(messages[-1].crossings["in"] - expected["in"]) + abs(
        messages[-1].crossings["out"] - expected["out"]
    )
    assert wrong <= math.ceil((expected["in"] + expected["out"]) / 20), (messages[-1].crossings, expected)
    assert len(crossings) == sum(messages[-1].crossings.values())
    # File frames are stamped with the clock at opening plus their place in the file.
    assert all(T0_MS <= c.at_ms <= T0_MS + scene.frame_count * 1000 // FPS for c in crossings)


class LiveSource:
    """A camera look-alike: each read is one frame later on the fake clock."""

    def __init__(self, scene: Scene, clock: FakeClock) -> None:
        self._frames = scene.frames()
        self._clock = clock

    def isOpened(self) -> bool:
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        self._clock.advance(seconds=1 / FPS)
        frame = next(self._frames, None)
        return frame is not None, None if frame is None else frame[1]

    def get(self, prop: int) -> float:
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        return False

    def release(self) -> None:
        pass


def test_a_live_source_is_stamped_by_the_injected_clock_and_reopened_when_it_ends() -> None:
    clock = FakeClock(T0)
    stop = threading.Event()
    opened: list[int] = []

    def open_camera(source: int | str) -> LiveSource:
        opened.append(1)
        if len(opened) == 2:
            stop.set()  # the second opening is the retry: enough
            raise OSError("camera gone")
        return LiveSource(Scene([walking_in(0)]), clock)

    output: queue.Queue[object] = queue.Queue()
    run_counter(
        CounterRunnerConfig(
            "rtsp://door-camera/stream", retry_seconds=0.0, clock=clock, open_source=open_camera
        ),
        output,
        stop,
    )

    messages = list(output.queue)
    assert [type(m) for m in messages] == [Crossing, CounterFault, CounterFault, CounterStopped]
    crossing, ended, failed, stopped = messages
    assert isinstance(crossing, Crossing) and crossing.direction == "in"
    assert T0_MS < crossing.at_ms < T0_MS + 60_000
    assert isinstance(ended, CounterFault) and ended.kind == "no_frames"
    assert (
        isinstance(failed, CounterFault) and failed.kind == "open_failed" and "camera gone" in failed.detail
    )
    assert (
        isinstance(stopped, CounterStopped) and stopped.reason == "stopped" and stopped.crossings["in"] == 1
    )


@pytest.mark.slow
def test_the_counter_process_posts_crossings_to_its_queue(tmp_path: Path) -> None:
    scene = Scene([walking_in(0, 0.3), walking_out(10, 0.7, shade=35)])
    path = scene.write(tmp_path / "door.mp4")
    process = CounterProcess(CounterRunnerConfig(str(path)))
    process.start()
    stopped = None
    received = []
    while stopped is None:
        message = process.output.get(timeout=60)
        received.append(message)
        stopped = message if isinstance(message, CounterStopped) else None
    process.stop()

    assert sorted(m.direction for m in received if isinstance(m, Crossing)) == ["in", "out"]
    assert stopped.reason == "source_ended" and not process.is_alive()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (dict(orientation="diagonal"), "orientation 'diagonal'"),
        (dict(orientation="vertical", in_towards="down"), "in_towards 'down'"),
        (dict(position=1.2), "position 1.2"),
        (dict(position=0.95, hysteresis=0.08), "hysteresis 0.08"),
    ],
)
def test_a_bad_counting_line_is_refused_naming_the_problem(line: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        CountingLine(**line)  # type: ignore[arg-type]


def test_a_frame_of_the_wrong_shape_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"shape \(4, 4, 2\)"):
        LineCounter().feed(np.zeros((4, 4, 2), np.uint8), 0)
