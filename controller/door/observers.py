"""Observers off the door thread: the state file, page listeners, the camera's mode, the console.

Why: observers ran inside the door thread, so a state-file write that failed (a full disk)
failed every input secure and no valid card opened the door. Now the door only posts a call
here, which returns at once; one thread runs the calls in order, each on its own, and a
failing or slow observer delays or loses only its own news, never the door. The queue is
bounded: when observers fall that far behind, the oldest news is dropped (and counted).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000


class ObserverQueue:
    """`post(func, *args)` from the door thread; `func(*args)` later on the observer thread."""

    def __init__(self, queue_size: int = QUEUE_SIZE, name: str = "door-observers") -> None:
        self._name = name
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(
            maxsize=queue_size
        )
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.failed = 0

    def post(self, func: Callable[..., Any], *args: Any) -> None:
        while True:
            try:
                self._queue.put_nowait((func, args))
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # drop the oldest: observers want the latest
                    self._queue.task_done()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Run what is queued for up to `timeout` s, then end the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None

    def wait_idle(self, timeout: float) -> bool:
        """True once every call posted so far has run (tests and the simulator's console)."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def run_pending(self) -> None:
        """Run what is queued on the caller's thread: only when the thread was not started."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            self._call(item)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            self._call(item)

    def _call(self, item: tuple[Callable[..., Any], tuple[Any, ...]] | None) -> None:
        try:
            if item is not None:
                func, args = item
                func(*args)
        except Exception:
            self.failed += 1
            if self.failed == 1 or self.failed % 100 == 0:
                log.exception("door observer failed (%d so far)", self.failed)
        finally:
            self._queue.task_done()


class QueuedSignals:
    """The door's LEDs and buzzer, driven from a thread of their own.

    Why: gpiozero's background blink joins the previous blink's thread and starts a new one,
    and a new thread waits until it first runs. On the door thread each key beep cost up to
    94 ms under load (bench/door_under_load.py). The door now only posts the signal.
    """

    def __init__(self, signals, queue: ObserverQueue) -> None:
        self._signals = signals
        self._queue = queue

    def show_granted(self) -> None:
        self._queue.post(self._signals.show_granted)

    def show_refused(self) -> None:
        self._queue.post(self._signals.show_refused)

    def beep(self, seconds: float | None = None, times: int = 1) -> None:
        self._queue.post(self._signals.beep, seconds, times)

    def all_off(self) -> None:
        self._queue.post(self._signals.all_off)
