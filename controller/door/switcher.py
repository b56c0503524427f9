"""Drive the door mode from the schedule with one-shot timers on the injected clock.

Each timer is a UTC instant computed by controller.domain.timeline, never a cron expression: cron
jobs in local time misfire or repeat around the DST changes. The timers read the same clock
as everything else (controller.door.timers), so a test that freezes time freezes the schedule too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from controller.domain.clock import Clock, format_local, utc_now
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.domain.timeline import ModeNow, mode_at, next_change
from controller.door.timers import ClockTimers

log = logging.getLogger(__name__)

# With no mode change in sight (e.g. an empty schedule) look again after this long.
RECHECK_AFTER = timedelta(days=1)


class ModeSwitcher:
    """Tells the door its mode at start, at every schedule edge and after every schedule edit.

    Callbacks (run on the timers' thread, or the caller's for start and
    replace_schedule; keep them quick, exceptions are logged and swallowed):
      on_mode(ModeNow)             at start, at each edge, after replace_schedule;
      on_closing_warning(minutes)  N minutes before Open+ gives way to CLOSED/CLOSURE,
                                   for each N in closing_warning_minutes;
      on_closing(ModeNow)          right after on_mode when Open+ gives way to CLOSED/CLOSURE,
                                   at an edge or by an edit (the argument is the closed mode).
    A handover from Open+ to staff is not a closing and gets no warning.
    """

    def __init__(
        self,
        schedule: Schedule,
        on_mode: Callable[[ModeNow], None],
        *,
        clock: Clock = utc_now,
        timers: ClockTimers | None = None,
        closing_warning_minutes: Sequence[int] = (),
        on_closing_warning: Callable[[int], None] | None = None,
        on_closing: Callable[[ModeNow], None] | None = None,
        job_prefix: str = "mode-switcher",
    ) -> None:
        if any(minutes <= 0 for minutes in closing_warning_minutes):
            raise ValueError(f"closing warnings must be > 0 minutes: {closing_warning_minutes}")
        self._schedule = schedule
        self._on_mode = on_mode
        self._clock = clock
        # Timers we create are ours to start and stop; ones passed in belong to the caller.
        self._owns_timers = timers is None
        self._timers = timers or ClockTimers(clock)
        self._warning_minutes = sorted(set(closing_warning_minutes), reverse=True)
        self._on_closing_warning = on_closing_warning
        self._on_closing = on_closing
        self._job_prefix = job_prefix
        self._lock = threading.RLock()
        self._generation = 0  # bumped on every recompute; older jobs find themselves stale
        self._job_ids: set[str] = set()
        self._current: ModeNow | None = None

    @property
    def current(self) -> ModeNow | None:
        """The mode last announced through on_mode (None before start)."""
        return self._current

    @property
    def schedule(self) -> Schedule:
        return self._schedule

    @property
    def timers(self) -> ClockTimers:
        return self._timers

    def start(self) -> ModeNow:
        """Announce the mode right now (a restart mid-window gets it at once) and plan ahead."""
        if self._owns_timers and not self._timers.running:
            self._timers.start()
        return self._recompute(self._clock())

    def stop(self) -> None:
        """Cancel our timers; stop the timer thread only if we created it."""
        with self._lock:
            self._generation += 1
            self._remove_jobs()
        if self._owns_timers and self._timers.running:
            self._timers.stop()

    def replace_schedule(self, schedule: Schedule) -> ModeNow:
        """Adopt an edited schedule: announce the mode it gives now and replan every job."""
        with self._lock:
            self._schedule = schedule
            return self._recompute(self._clock())

    # ------------------------------------------------------------ job entry points

    def run_edge(self, generation: int, edge_at: datetime) -> None:
        """The job at a schedule edge: announce the new mode and plan the next edge."""
        with self._lock:
            if generation != self._generation:
                return  # planned for a schedule that has since been replaced
            # Never compute before the edge, even if the job fired a hair early.
            self._recompute(max(self._clock(), edge_at))

    def run_closing_warning(self, generation: int, minutes_left: int) -> None:
        """The job N minutes before Open+ closes."""
        with self._lock:
            if generation != self._generation or self._on_closing_warning is None:
                return
            log.info("closing warning: Open+ closes in %d minutes", minutes_left)
            self._safely(self._on_closing_warning, minutes_left)

    # ------------------------------------------------------------ internals

    def _recompute(self, now: datetime) -> ModeNow:
        with self._lock:
            previous = self._current
            current = mode_at(self._schedule, now)
            self._current = current
            self._generation += 1
            self._plan(now, current)
            log.info(
                "door mode %s (%s) until %s",
                current.mode,
                current.cause,
                format_local(current.until) if current.until else "further notice",
            )
            self._safely(self._on_mode, current)
            closing = previous is not None and previous.mode is DoorMode.OPENPLUS and current.mode.is_closed
            if closing and self._on_closing is not None:
                self._safely(self._on_closing, current)
            return current

    def _plan(self, now: datetime, current: ModeNow) -> None:
        """Replace our jobs with: the next edge, and the closing warnings before it."""
        self._remove_jobs()
        change = next_change(self._schedule, now)
        generation = self._generation
        if change is None:
            self._add(
                f"{self._job_prefix}:recheck",
                now + RECHECK_AFTER,
                self.run_edge,
                generation,
                now + RECHECK_AFTER,
            )
            return
        self._add(f"{self._job_prefix}:edge", change.at, self.run_edge, generation, change.at)
        if current.mode is DoorMode.OPENPLUS and change.mode.is_closed:
            for minutes in self._warning_minutes:
                warn_at = change.at - timedelta(minutes=minutes)
                if warn_at >= now:
                    self._add(
                        f"{self._job_prefix}:closing-warning:{minutes}",
                        warn_at,
                        self.run_closing_warning,
                        generation,
                        minutes,
                    )

    def _add(self, job_id: str, run_at: datetime, func: Callable[..., None], *args: Any) -> None:
        self._timers.add(job_id, run_at, func, *args)
        self._job_ids.add(job_id)

    def _remove_jobs(self) -> None:
        for job_id in self._job_ids:
            self._timers.remove(job_id)  # False when it already ran
        self._job_ids.clear()

    @staticmethod
    def _safely(callback: Callable[[Any], None], argument: Any) -> None:
        """A failing listener must not stop the next edge from being planned."""
        try:
            callback(argument)
        except Exception:
            log.exception("mode switcher callback %r failed", callback)
