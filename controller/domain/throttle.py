"""Slowing down guessing: a key (a reader, a username, a client address) that sees many
failures in a short time is made to wait, longer with every further failure."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

SWEEP_ABOVE_KEYS = 1000  # forget quiet keys past this many, so a flood of new keys can't grow memory


class FailureThrottle:
    """Counts failures per key in a sliding window; past a threshold, each one doubles the pause."""

    def __init__(
        self, threshold: int, window: timedelta, first_pause: timedelta, max_pause: timedelta
    ) -> None:
        self._threshold = threshold
        self._window = window
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._failures: dict[str, deque[datetime]] = {}

    def paused_until(self, key: str, now: datetime) -> datetime | None:
        """When this key may try again, or None when it may now."""
        recent = self._recent(key, now)
        excess = len(recent) - self._threshold
        if excess < 0:
            return None
        pause = min(self._first_pause * (2 ** min(excess, 16)), self._max_pause)
        until = recent[-1] + pause
        return until if now < until else None

    def record_failure(self, key: str, now: datetime) -> None:
        if len(self._failures) > SWEEP_ABOVE_KEYS:
            self._sweep(now)
        self._recent(key, now).append(now)

    def withdraw(self, key: str, at: datetime) -> None:
        """Take back one failure recorded at `at`: an attempt counted in advance (so that
        concurrent attempts cannot all slip past the threshold) that turned out not to be one."""
        failures = self._failures.get(key)
        if failures is None:
            return
        for index in range(len(failures) - 1, -1, -1):
            if failures[index] == at:
                del failures[index]
                return

    def clear(self, key: str) -> None:
        """Forget a key's failures (a right password ends a run of typos)."""
        self._failures.pop(key, None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        return failures

    def _sweep(self, now: datetime) -> None:
        quiet = now - self._window - self._max_pause
        for key in [key for key, times in self._failures.items() if not times or times[-1] <= quiet]:
            del self._failures[key]
