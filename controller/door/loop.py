"""The door's one thread: inputs from every driver go into one queue, the Door handles them in order.

Drivers call `submit` from their own threads; only this loop touches the Door. Any exception
while handling an input, or while working out how long to wait, locks the relay (fail secure)
and the loop carries on: the loop itself never ends until `stop()`. Each turn is stamped on
the monotonic clock and reported to `on_turn` (the systemd watchdog feeder), so a loop that
hangs or dies stops feeding the watchdog and gets the process restarted, relay off first.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

from controller.domain.clock import Monotonic, monotonic
from controller.door.machine import Door
from controller.door.ports import DoorInput

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 0.5  # the loop turns at least this often, input or not


class DoorLoop:
    """Runs `door` on a thread; `submit` is the EventSink every reader and input is given."""

    def __init__(
        self,
        door: Door,
        monotonic: Monotonic = monotonic,
        on_turn: Callable[[], None] | None = None,
        realtime_priority: int = 0,
    ) -> None:
        self.door = door
        self._realtime_priority = realtime_priority
        self.realtime = False  # whether the thread got its real-time priority
        self._mono = monotonic
        self._on_turn = on_turn
        self._inbox: queue.Queue[DoorInput | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.last_turn: float = self._mono()  # monotonic time the loop last finished a turn

    def submit(self, item: DoorInput) -> None:
        self._inbox.put(item)

    def run_once(self, wait: float | None = None) -> None:
        """Handle the next input, or the deadlines when none arrives in time."""
        try:
            timeout = self._wait() if wait is None else wait
        except Exception:
            log.exception("door loop could not work out its next deadline")
            timeout = MAX_WAIT_SECONDS
        got = True
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            item, got = None, False
        try:
            if item is None:  # a quiet spell, or stop()'s wake-up call
                self.door.tick()
            else:
                self.door.handle(item)
        except Exception as exc:
            log.exception("door loop error; relay locked")
            self._fail_secure(exc)
        finally:
            if got:
                self._inbox.task_done()
        self._turned()

    def _fail_secure(self, exc: Exception) -> None:
        try:
            self.door.fail_secure(exc)
        except Exception:
            log.exception("fail-secure could not finish")

    def _turned(self) -> None:
        self.last_turn = self._mono()
        if self._on_turn is not None:
            try:
                self._on_turn()
            except Exception:
                log.exception("door loop turn callback failed")

    def _wait(self) -> float:
        deadline = self.door.next_deadline()
        if deadline is None:
            return MAX_WAIT_SECONDS
        return min(max(deadline - self._mono(), 0.0), MAX_WAIT_SECONDS)

    def turn_age(self) -> float:
        """Seconds since the loop last finished a turn (it turns at least every 0.5 s)."""
        return self._mono() - self.last_turn

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="door-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.realtime = self._ask_realtime()
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("door loop turn failed")
                self._fail_secure(RuntimeError("door loop turn failed"))

    def _ask_realtime(self) -> bool:
        """Put this thread (only this one) under round-robin real-time scheduling.

        Why: a Pi serving a burst of sign-ins or a big import gave the door thread the CPU
        only after those (door p99 several times its idle value, bench/door_under_load.py).
        A real-time thread runs before any normal one, and the door thread sleeps in
        queue.get between inputs, so it takes little; the kernel keeps 5% for the rest
        whatever happens (sched_rt_runtime_us). Allowed for root or up to the unit's
        LimitRTPRIO; otherwise the door runs as before, with one warning.
        """
        if self._realtime_priority <= 0:
            return False
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(self._realtime_priority))
        except (OSError, AttributeError) as exc:  # not permitted, or not Linux
            log.warning(
                "door thread runs at normal priority (real-time priority %d refused: "
                "%s); give the unit LimitRTPRIO=%d",
                self._realtime_priority,
                exc,
                self._realtime_priority,
            )
            return False
        return True

    def stop(self, timeout: float = 2.0) -> None:
        """Lock, stop the thread, lock again: the loop's last act leaves the door locked."""
        self.door.lock_now()
        self._stopping.set()
        self._inbox.put(None)  # wakes the thread
        if self._thread is not None:
            self._thread.join(timeout=timeout)
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
