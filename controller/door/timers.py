"""One-shot timers on the injected wall clock: schedule edges, closing warnings, the daily job.

Why not APScheduler: it reads the real clock itself, so a service whose clock a test froze
ran that evening's jobs at once (two clocks, a suite red from one date on). These timers read
only the clock they are given. A thread looks every `poll_seconds` (a bounded real-time wait,
never a sleep until the due time) and runs what is due on that clock, in due order. So a wall-
clock step forward runs what it skipped (the door must still switch mode) and a step back only
delays; a frozen test clock runs nothing until the test moves it.

Timer callbacks run on the timer thread, never on the door thread; they must be quick (the
mode switcher only queues an input for the door). A failing callback is logged and forgotten.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.domain.clock import Clock, require_aware

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Timer:
    """One pending call: `func(*args)` once the clock reads `run_at` or later."""

    id: str
    run_at: datetime
    func: Callable[..., Any]
    args: tuple[Any, ...] = field(default=())

    def run(self) -> None:
        self.func(*self.args)


class ClockTimers:
    """Named one-shot timers; adding an existing name replaces it. Thread-safe."""

    def __init__(self, clock: Clock, poll_seconds: float = POLL_SECONDS) -> None:
        self._clock = clock
        self._poll = poll_seconds
        self._timers: dict[str, Timer] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- planning ------------------------------------------------------------------------------
    def add(self, timer_id: str, run_at: datetime, func: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(timer_id, require_aware(run_at), func, args)
        with self._lock:
            self._timers[timer_id] = timer
        self._wake.set()  # a timer due now should not wait for the next poll
        return timer

    def remove(self, timer_id: str) -> bool:
        """Drop a pending timer; False when it had already run or never existed."""
        with self._lock:
            return self._timers.pop(timer_id, None) is not None

    def get(self, timer_id: str) -> Timer | None:
        with self._lock:
            return self._timers.get(timer_id)

    def pending(self) -> dict[str, datetime]:
        """Every pending timer's due time, by name."""
        with self._lock:
            return {timer.id: timer.run_at for timer in self._timers.values()}

    # --- running ---------------------------------------------------------------------------------
    def run_due(self) -> int:
        """Run every timer due on the clock now, earliest first; returns how many ran.

        Each is taken out before it runs, so a callback may add timers (the next edge) freely.
        """
        ran = 0
        while True:
            now = self._clock()
            with self._lock:
                due = [t for t in self._timers.values() if t.run_at <= now]
                if not due:
                    return ran
                timer = min(due, key=lambda t: t.run_at)
                del self._timers[timer.id]
            try:
                timer.run()
            except Exception:
                log.exception("timer %s failed", timer.id)
            ran += 1

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="clock-timers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.run_due()
            self._wake.wait(self._poll)
            self._wake.clear()
