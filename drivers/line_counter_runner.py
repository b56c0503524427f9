"""The line counter in its own process: reads a camera, stream or file and posts what it counts.

Why a process of its own: counting costs a few milliseconds a frame, and the door process must
never spend them. Use it for a network camera (an RTSP/HTTP stream can be opened twice: once by
the recorder, once here) or a recorded file. A USB camera can be opened by one process only: there
the recorder's process should own a LineCounter and feed it the frames it already reads.

Interface:

    process = CounterProcess(CounterRunnerConfig(source="rtsp://...", counter=CounterConfig(...)))
    process.start()
    process.output.get()  # Crossing(direction, at_ms, track_id), CounterFault(kind, detail, at_ms),
                          # and last CounterStopped(frames, crossings, cpu_seconds, reason)
    process.stop()

Timestamps: a live source's frames are stamped with the injected clock when read (UTC ms, as
the recorder does); a file's with the clock at its opening plus the frame's position in the
file, and a file is read as fast as it decodes (a clip is counted in less than its length).
A live source that fails is reopened after `retry_seconds`; a file that ends stops the runner.
`run_counter` is a top-level function taking picklable arguments: safe with spawn.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.camera_messages import (
    Clock,
    FrameSource,
    collect_until_stopped,
    is_file_source,
    open_source,
    to_ms,
    utc_now,
)
from drivers.line_counter import CounterConfig, Crossing, LineCounter

COUNTER_NICENESS = 10  # like the recorder: the door's process comes first


@dataclass(frozen=True)
class CounterRunnerConfig:
    """Everything the runner needs; picklable (module-level callables) so spawn can pass it."""

    source: int | str
    counter: CounterConfig = field(default_factory=CounterConfig)
    max_fps: float = 12.0  # frames above this rate are skipped: 10-15 fps is enough to track a walker
    retry_seconds: float = 5.0
    clock: Clock = utc_now
    open_source: Callable[[int | str], FrameSource] = open_source


@dataclass(frozen=True)
class CounterFault:
    """kind: open_failed or no_frames (the runner retries a live source) or bad_frame."""

    kind: str
    detail: str
    at_ms: int


@dataclass(frozen=True)
class CounterStopped:
    """Sent last. reason: stopped (asked to), source_ended (a file's end) or source_failed (a
    file that would not open or read); cpu_seconds: the
    process's CPU time (the whole process when run in a thread)."""

    frames: int
    crossings: dict[str, int]
    cpu_seconds: float
    reason: str


CounterMessage = Crossing | CounterFault | CounterStopped


def run_counter(config: CounterRunnerConfig, output: Any, stop: Any, parent_pid: int | None = None) -> None:
    """Entry point of the counter process (or a thread): count until `stop` is set, the file
    ends, or (in its own process) the parent `parent_pid` is gone; CounterStopped goes last."""
    # OpenCV is imported here, in the counter, not at the top: the door process imports this
    # module for CounterProcess and its messages and must not load it (~75 MB).
    import cv2

    if parent_pid is not None:
        os.nice(COUNTER_NICENESS)
        cv2.setNumThreads(1)
    counter = LineCounter(config.counter, on_crossing=output.put)
    frames, reason = 0, "stopped"
    while not stop.is_set() and _parent_alive(parent_pid):
        source, failure = _open(config)
        if source is not None:
            try:
                frames, ended = _count(config, source, counter, output, stop, frames, parent_pid)
            finally:
                source.release()
            if ended and is_file_source(config.source):
                reason = "source_ended"
                break
            if stop.is_set() or not _parent_alive(parent_pid):
                break
            output.put(
                CounterFault("no_frames", f"{config.source!r} delivered no frame", to_ms(config.clock()))
            )
        else:
            output.put(CounterFault("open_failed", failure, to_ms(config.clock())))
        if is_file_source(config.source):
            reason = "source_failed"
            break
        stop.wait(config.retry_seconds)
    output.put(CounterStopped(frames, dict(counter.totals), time.process_time(), reason))
    if not _parent_alive(parent_pid):
        # Orphaned: nobody reads the queue, so waiting to flush it would hang forever.
        output.cancel_join_thread()
        os._exit(0)


def _parent_alive(parent_pid: int | None) -> bool:
    return parent_pid is None or os.getppid() == parent_pid


def _open(config: CounterRunnerConfig) -> tuple[FrameSource | None, str]:
    """The opened source, or None and why not."""
    try:
        source = config.open_source(config.source)
    except Exception as exc:  # noqa: BLE001 - any driver error is a fault to report and retry
        return None, str(exc)
    if not source.isOpened():
        source.release()
        return None, f"cannot open {config.source!r}"
    return source, ""


def _count(
    config: CounterRunnerConfig,
    source: FrameSource,
    counter: LineCounter,
    output: Any,
    stop: Any,
    frames: int,
    parent_pid: int | None,
) -> tuple[int, bool]:
    """Reads frames into the counter until the source ends (True), or `stop` is set or the
    parent process is gone (False)."""
    import cv2

    from drivers.camera_files import FrameRateCap

    from_file = is_file_source(config.source)
    opened_ms = to_ms(config.clock())
    rate = FrameRateCap(config.max_fps)
    while not stop.is_set() and _parent_alive(parent_pid):
        ok, image = source.read()
        if not ok or image is None:
            return frames, True
        at_ms = opened_ms + int(source.get(cv2.CAP_PROP_POS_MSEC)) if from_file else to_ms(config.clock())
        if not rate.keep(at_ms):
            continue
        try:
            counter.feed(image, at_ms)
        except ValueError as exc:  # a frame of another shape: report it and go on with the next
            output.put(CounterFault("bad_frame", str(exc), at_ms))
            continue
        frames += 1
    return frames, False


class CounterProcess:
    """The counter in its own process (spawn) or a thread; crossings arrive on `output`."""

    def __init__(self, config: CounterRunnerConfig, in_process: bool = True) -> None:
        self.output: Any
        self._stop: Any
        if in_process:
            context = multiprocessing.get_context("spawn")
            self.output, self._stop = context.Queue(), context.Event()
            self._worker: Any = context.Process(
                target=run_counter,
                args=(config, self.output, self._stop, os.getpid()),
                name="line-counter",
                daemon=True,
            )
        else:
            self.output, self._stop = queue.Queue(), threading.Event()
            self._worker = threading.Thread(
                target=run_counter, args=(config, self.output, self._stop), name="line-counter", daemon=True
            )

    def start(self) -> None:
        self._worker.start()

    def is_alive(self) -> bool:
        return bool(self._worker.is_alive())

    def stop(self, timeout: float = 10.0) -> list[CounterMessage]:
        """Ask it to stop; the messages not yet collected, CounterStopped last when it came."""
        self._stop.set()
        return collect_until_stopped(self.output, self._worker, CounterStopped, timeout)
