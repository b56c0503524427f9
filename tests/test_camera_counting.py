"""The camera line counter feeding the door (issue 16): [counter] chooses the source; generated
video with known crossings, counted outside the door thread, changes the door's occupancy and
two in on one grant is one tailgating event; the wired branch starts it and feeds its loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config.counter import CameraCounterSettings, people_counter
from controller.config.settings import ConfigError, parse_settings
from controller.domain.events import EventType
from controller.door.camera_counting import CameraCounting
from controller.door.ports import DoorContactChanged, RemoteUnlock
from drivers.beams import PersonCrossed
from tests.conftest import simulated_openplus_branch
from tests.test_occupancy import counting_bench, events_of
from tests.video_support import PERSON, Scene, walking_in, walking_out

CAMERA = CameraCounterSettings(source="door.mp4", in_process=False, settle_seconds=4.0)


def side_by_side() -> Scene:
    """Two people walking in together, a hand's width apart: two crossings, one opening."""
    half, gap = PERSON[0], 24 / 640
    return Scene([walking_in(0, 0.5 - half - gap / 2), walking_in(0, 0.5 + half + gap / 2, shade=215)])


# --- [counter]: which counter feeds the door ---------------------------------------------------
def test_auto_takes_the_beams_when_fitted_and_none_without() -> None:
    beams = parse_settings({"hardware": {"counter": {"a_pin": 7, "b_pin": 8}}}, "t")
    assert people_counter(beams.counter, beams.hardware.counter) is beams.hardware.counter
    plain = parse_settings({}, "t")
    assert plain.counter.source == "auto" and people_counter(plain.counter, None) is None


def test_the_camera_source_is_chosen_with_its_line_and_settle_time() -> None:
    settings = parse_settings(
        {"counter": {"source": "camera", "camera": {"source": "rtsp://cam/door", "position": 0.4}}}, "t"
    )
    chosen = people_counter(settings.counter, settings.hardware.counter)
    assert chosen is settings.counter.camera and chosen.settle_seconds == 4.0 and chosen.position == 0.4


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"counter": {"source": "beams"}}, "counter: source = 'beams' needs a \\[hardware.counter\\]"),
        (
            {"counter": {"source": "camera"}, "hardware": {"counter": {"a_pin": 7, "b_pin": 8}}},
            "source = 'camera' but \\[hardware.counter\\] is set",
        ),
        (
            {"counter": {"source": "camera"}, "camera": {"enabled": True, "source": 0}},
            "USB camera 0 is the recorder's",
        ),
        ({"counter": {"source": "laser"}}, "counter.source"),
        ({"counter": {"camera": {"in_towards": "left"}}}, "in_towards 'left' does not cross a horizontal"),
        ({"counter": {"camera": {"fps": 5}}}, "counter.camera.fps: unknown key"),
    ],
)
def test_a_bad_counter_section_is_refused_naming_the_key(raw, problem) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_settings(raw, "test")


# --- generated video -> the door -------------------------------------------------------------
def test_two_walking_in_on_one_grant_on_camera_is_tailgating(tmp_path: Path, runtime, clock, mock_factory):
    path = side_by_side().write(tmp_path / "door.mp4")
    bench = counting_bench(runtime, clock, mock_factory, counter=CAMERA)
    try:
        bench.send(RemoteUnlock("api:anna"), DoorContactChanged(True))  # one grant, the door opens
        threads: set[str] = set()

        def to_door(item) -> None:  # the door's loop queue, drained here on the counting thread
            import threading

            threads.add(threading.current_thread().name)
            bench.door.handle(item)

        counting = CameraCounting(CAMERA, str(path), to_door, bench.events.record, "entrance", clock)
        counting.start()
        assert counting.wait_ended(60) and counting.stopped.reason == "source_ended"
        assert threads == {"camera-counting"}  # never the caller's (the door's) thread
        assert counting.counted == {"in": 2, "out": 0} and bench.door.snapshot().occupancy == 2
        bench.send(DoorContactChanged(False))
        bench.after(CAMERA.settle_seconds)
        [tailgating] = events_of(bench, EventType.TAILGATING)
        assert tailgating.detail == "2 in on 1 grant(s)"
        counting.stop()
    finally:
        bench.close()


def test_a_camera_that_will_not_open_is_one_camera_fault(tmp_path: Path, runtime, clock, mock_factory):
    import threading

    from drivers.line_counter_runner import CounterFault

    bench = counting_bench(runtime, clock, mock_factory, counter=CAMERA)
    recorded = threading.Event()

    def record(event) -> None:
        bench.events.record(event)
        recorded.set()

    try:
        missing = str(tmp_path / "gone.mp4")  # not there: a live source to retry, not a file's end
        counting = CameraCounting(CAMERA, missing, bench.door.handle, record, "entrance", clock)
        counting.start()
        assert recorded.wait(30)
        counting.stop()
        counting._take(CounterFault("open_failed", "again", 0))  # the runner's next retry
        [fault] = events_of(bench, EventType.CAMERA_FAULT)
        assert fault.reason == "counter_open_failed" and "gone.mp4" in (fault.detail or "")
        assert bench.door.snapshot().occupancy == 0
    finally:
        bench.close()


@pytest.fixture
def camera_branch(settings, clock, tmp_path):
    """BranchService on simulated hardware counting people on a generated door video."""
    scene = Scene([walking_in(0, 0.3), walking_in(14, 0.6, shade=35), walking_out(30, 0.5)])
    path = scene.write(tmp_path / "door.mp4")
    raw = settings.model_dump(mode="json")
    raw["counter"] = {"source": "camera", "camera": {"source": str(path), "in_process": False}}
    # the camera counts: the simulator wires no beams then
    sim, service = simulated_openplus_branch(parse_settings(raw, "test"), clock, members=(1,))
    yield sim, service
    service.stop()
    sim.close()


def test_the_wired_branch_counts_on_camera_into_its_occupancy(camera_branch) -> None:
    sim, service = camera_branch
    assert service.camera_counting is not None and service.hardware.counter is None
    service.start()
    assert service.camera_counting.wait_ended(60)
    assert service.loop.wait_idle(5)
    assert service.camera_counting.counted == {"in": 2, "out": 1}
    assert service.snapshot().occupancy == 1  # type: ignore[union-attr]
    from controller.sim.console import Console

    lines: list[str] = []
    console = Console(service, sim, lines.append)
    console.execute("card 29990000000001")
    console.execute("keys 1234#")  # let in; the simulator has no beams to walk them past
    assert service.snapshot().relay_unlocked and not any("walks in" in line for line in lines)  # type: ignore[union-attr]
    console.execute("walk in")
    assert lines[-1] == "no beams to walk past: [counter] counts on camera, or not at all"


def test_a_camera_crossing_is_the_same_input_as_a_beam_crossing() -> None:
    from drivers.line_counter import Crossing

    got: list[object] = []
    counting = CameraCounting.__new__(CameraCounting)
    counting._submit, counting._last_fault, counting.counted = got.append, None, {"in": 0, "out": 0}
    assert counting._take(Crossing("out", 1_764_000_000_000, 3)) is False
    [crossing] = got
    assert isinstance(crossing, PersonCrossed) and crossing.direction == "out"
    assert crossing.at.timestamp() == 1_764_000_000.0


@pytest.mark.slow
def test_the_counter_runs_in_a_process_of_its_own(tmp_path: Path, clock) -> None:
    """in_process (the default): spawned, OpenCV in the child; the crossings still reach `submit`."""
    import os
    import threading

    path = side_by_side().write(tmp_path / "door.mp4")
    got: list[PersonCrossed] = []
    pids: set[int] = set()
    threads: set[str] = set()

    def submit(item) -> None:
        threads.add(threading.current_thread().name)
        got.append(item)

    config = CameraCounterSettings(source=str(path))
    counting = CameraCounting(config, str(path), submit, lambda event: None, "entrance", clock)
    counting.start()
    try:
        pids.add(counting._process._worker.pid)
        assert counting.wait_ended(120) and counting.stopped.reason == "source_ended"
    finally:
        counting.stop()
    assert [c.direction for c in got] == ["in", "in"] and threads == {"camera-counting"}
    assert os.getpid() not in pids
