"""The camera line counter feeding the door: its own process, and a thread handing its crossings
to the door loop as inputs, like the beams' (`[counter] source = "camera"`).

Why this shape: counting costs milliseconds a frame, so it runs in a process of its own
(drivers/line_counter_runner.py; a thread only when `in_process` is off, for tests), never
in the door process. Its crossings come back on a multiprocessing queue that a thread of
ours drains: each becomes a `PersonCrossed` submitted to the door loop (a queue put), so the
door thread never waits on the counter, and occupancy and tailgating treat a camera crossing
exactly as a beam crossing. The counter's faults become `camera_fault` events (reason
`counter_<kind>`), once per kind until it counts again; a counter process that dies is
started again after RESTART_AFTER_SECONDS.

drivers.line_counter_runner (and OpenCV with it) is imported only when a camera counter is
configured, so a branch with beams or none carries none of it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from controller.config.counter import CameraCounterSettings
from controller.config.settings import Settings
from controller.domain.clock import Clock
from controller.domain.events import Event, EventType
from controller.door.ports import DoorInput
from controller.store.codec import from_ms
from drivers.beams import PersonCrossed

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how long the pump waits on the queue before looking at its stop flag
RESTART_AFTER_SECONDS = 5.0


class CameraCounting:
    """Starts the counter, forwards its crossings to `submit`, records its faults."""

    def __init__(
        self,
        config: CameraCounterSettings,
        source: int | str,
        submit: Callable[[DoorInput], None],
        record: Callable[[Event], object],
        door: str,
        clock: Clock,
        open_source: Callable[[int | str], Any] | None = None,
    ) -> None:
        from drivers.line_counter import CounterConfig, CountingLine
        from drivers.line_counter_runner import CounterRunnerConfig

        line = CountingLine(config.orientation, config.position, config.in_towards, config.hysteresis)
        extra: dict[str, Any] = {}
        if not config.in_process:
            extra["clock"] = clock  # a thread shares our clock; a spawned process keeps its own
        if open_source is not None:
            extra["open_source"] = open_source
        self._runner = CounterRunnerConfig(source, CounterConfig(line=line), max_fps=config.max_fps, **extra)
        self._in_process = config.in_process
        self._submit, self._record, self._door, self._clock = submit, record, door, clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None
        self._last_fault: str | None = None
        self.counted = {"in": 0, "out": 0}  # what reached the door since start
        self.stopped: Any = None  # the runner's CounterStopped, once it ended

    def start(self) -> None:
        self._stopping.clear()
        self._process = self._new_process()
        self._thread = threading.Thread(target=self._pump_forever, name="camera-counting", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the pump, then the counter; crossings it still sends go to the door too."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._process is not None:
            for message in self._process.stop(timeout):
                self._take(message)

    def wait_ended(self, timeout: float) -> bool:
        """True once the counter ended by itself (a file source read to its end; tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stopped is not None

    # --- the pump's thread ---------------------------------------------------------------------
    def _new_process(self) -> Any:
        from drivers.line_counter_runner import CounterProcess

        process = CounterProcess(self._runner, in_process=self._in_process)
        process.start()
        return process

    def _pump_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._process.output.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self._process.is_alive() and not self._stopping.wait(RESTART_AFTER_SECONDS):
                    self._fault("died", "the counter process ended; started again")
                    self._process = self._new_process()
                continue
            if self._take(message):
                return  # the runner ended by itself (a file's end, a file that failed)

    def _take(self, message: Any) -> bool:
        """Forward one message; True when it was the runner's last."""
        from drivers.line_counter_runner import CounterFault, CounterStopped

        if isinstance(message, CounterStopped):
            self.stopped = message
            log.info("camera counter stopped (%s): %s", message.reason, message.crossings)
            return True
        if isinstance(message, CounterFault):
            self._fault(message.kind, message.detail)
            return False
        direction = getattr(message, "direction", None)
        if direction in ("in", "out"):
            self._last_fault = None
            self.counted[direction] += 1
            self._submit(PersonCrossed(direction, from_ms(message.at_ms)))
        return False

    def _fault(self, kind: str, detail: str) -> None:
        if kind == self._last_fault:
            return  # the runner retries every few seconds: one event per kind of trouble
        self._last_fault = kind
        log.warning("camera counter: %s: %s", kind, detail)
        self._record(
            Event(
                type=EventType.CAMERA_FAULT,
                at=self._clock(),
                door=self._door,
                reason=f"counter_{kind}",
                detail=detail[:200],
            )
        )


def open_camera_counting(
    settings: Settings, submit: Callable[[DoorInput], None], record: Callable[[Event], object], clock: Clock
) -> CameraCounting | None:
    """The camera counter when [counter] chooses it (not started), else None."""
    counting = settings.counter
    if counting.chosen(settings.hardware.counter) != "camera":
        return None
    source = counting.camera.source if counting.camera.source is not None else settings.camera.source
    return CameraCounting(counting.camera, source, submit, record, settings.branch.door, clock)
