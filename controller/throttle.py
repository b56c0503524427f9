"""Anti card-cycling: a reader that sees many refusals in a short time makes people wait."""
from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class ReaderThrottle:
    """Counts refusals per reader in a sliding window; past a threshold, each one doubles the pause."""

    def __init__(
        self, threshold: int, window: timedelta, first_pause: timedelta, max_pause: timedelta
    ) -> None:
        self._threshold = threshold
        self._window = window
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._failures: dict[str, deque[datetime]] = {}

    def paused_until(self, reader: str, now: datetime) -> datetime | None:
        """When this reader accepts attempts again, or None when it does now."""
        recent = self._recent(reader, now)
        excess = len(recent) - self._threshold
        if excess < 0:
            return None
        pause = min(self._first_pause * (2 ** min(excess, 16)), self._max_pause)
        until = recent[-1] + pause
        return until if now < until else None

    def record_failure(self, reader: str, now: datetime) -> None:
        self._recent(reader, now).append(now)

    def _recent(self, reader: str, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(reader, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        return failures
