"""The door's one thread: inputs from every driver go into one queue, the Door handles them in order.

Drivers call `submit` from their own threads; only this loop touches the Door. Any exception
while handling an input locks the relay (fail secure) and the loop carries on.
"""
from __future__ import annotations

import logging
import queue
import threading

from controller.clock import Clock
from controller.door import Door, DoorInput

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 0.5


class DoorLoop:
    """Runs `door` on a thread; `submit` is the EventSink every reader and input is given."""

    def __init__(self, door: Door, clock: Clock) -> None:
        self.door = door
        self._clock = clock
        self._inbox: queue.Queue[DoorInput | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def submit(self, item: DoorInput) -> None:
        self._inbox.put(item)

    def run_once(self, wait: float | None = None) -> None:
        """Handle the next input, or the deadlines when none arrives in time."""
        try:
            item = self._inbox.get(timeout=self._wait() if wait is None else wait)
        except queue.Empty:
            item = None
        else:
            if item is None:  # stop()'s wake-up call
                self._inbox.task_done()
        try:
            if item is None:
                self.door.tick()
            else:
                self.door.handle(item)
        except Exception as exc:  # noqa: BLE001 - any error: lock first, then report
            log.exception("door loop error; relay locked")
            self.door.fail_secure(exc)
        finally:
            if item is not None:
                self._inbox.task_done()

    def _wait(self) -> float:
        deadline = self.door.next_deadline()
        if deadline is None:
            return MAX_WAIT_SECONDS
        return min(max((deadline - self._clock()).total_seconds(), 0.0), MAX_WAIT_SECONDS)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="door-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.run_once()

    def stop(self) -> None:
        """Stop the thread, then lock: the last thing the loop does is leave the door locked."""
        self._stopping.set()
        self._inbox.put(None)  # wakes the thread
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.door.shutdown()

    def wait_idle(self, timeout: float) -> bool:
        """True once every input submitted so far has been handled (the simulator's console)."""
        done = self._inbox.all_tasks_done
        with done:
            return done.wait_for(lambda: self._inbox.unfinished_tasks == 0, timeout)

    def drain(self) -> None:
        """Handle everything queued so far, on the caller's thread: only for a loop that was
        not started (tests), or two threads would drive the door."""
        while not self._inbox.empty():
            self.run_once(wait=0)
