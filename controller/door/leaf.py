"""The door leaf as its contact reports it: open or shut, since when, and whether that may be.

Why a module of its own: forced-door and held-open detection keep their own state (when this
opening began, whether it was reported, an exit request's grace, the alarm showing) that the
door machine (machine.py) only tells and asks; the machine stays about credentials and the
lock. Every time here is monotonic seconds (a wall-clock step must not stretch a limit).
Not thread-safe: the door loop's one thread owns it, as it owns the Door.
"""

from __future__ import annotations

from controller.config.settings import DoorSettings
from controller.domain.clock import Monotonic
from controller.domain.events import DoorAlarm


class DoorLeaf:
    """Open or shut, and the held-open limit of the opening under way."""

    def __init__(self, settings: DoorSettings, monotonic: Monotonic) -> None:
        self._cfg = settings
        self._mono = monotonic
        self.is_open = False
        self.alarm: DoorAlarm | None = None  # shown in snapshots until the door closes
        self._open_since: float | None = None
        self._held_reported = False
        self._held_limit = settings.held_open_seconds  # of the opening under way
        self._exit_until: float | None = None

    def assume(self, is_open: bool) -> None:
        """The contact's state at start-up: no event, no alarm for a door already open."""
        self.is_open = is_open
        self._open_since = self._mono() if is_open else None

    def exit_requested(self) -> None:
        """An exit request: opening the door within the grace time is not forced."""
        self._exit_until = self._mono() + self._cfg.rex_grace_seconds

    def opened(self, granted: bool, more_time: bool = False) -> bool:
        """The door opened; True when that was allowed (`granted`: a pulse under way or a
        free door, or an exit request's grace time), False when it was forced. `more_time`:
        a member with more time opened it, so it may stay open more_time_held_open_seconds."""
        t = self._mono()
        self.is_open, self._open_since, self._held_reported = True, t, False
        self._held_limit = self._cfg.more_time_held_open_seconds if more_time else self._cfg.held_open_seconds
        return granted or (self._exit_until is not None and t < self._exit_until)

    def give_more_time(self) -> None:
        """A member with more time was let in while the door stands open: the longer limit
        counts for this opening (from when it opened)."""
        self._held_limit = self._cfg.more_time_held_open_seconds

    @property
    def held_limit(self) -> float:
        """Seconds the opening under way (or the next one) may last before it is held open."""
        return self._held_limit

    def closed(self) -> None:
        self.is_open, self._open_since, self.alarm = False, None, None

    def held_deadline(self) -> float | None:
        """When this opening becomes held open (None: shut, or already reported)."""
        if not self.is_open or self._held_reported or self._open_since is None:
            return None
        return self._open_since + self._held_limit

    def held_open_now(self, t: float) -> bool:
        """True once, when this opening has passed its limit at monotonic time `t`."""
        deadline = self.held_deadline()
        if deadline is None or t < deadline:
            return False
        self._held_reported = True
        return True
