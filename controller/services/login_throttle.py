"""Slows password guessing on the API login and the sign-in page, which share one LoginThrottle.

Two counters, because guessing comes in two shapes: many passwords for one username (counted
per username, from any address) and one or two passwords for many usernames (counted per
client address). Decision: kept in memory, not in the database: a restart lifts the pause,
but only someone who can restart the service could use that, and argon2 still makes each
guess slow. Unknown usernames count like known ones, so a pause tells nothing about a name.

Decision: a sign-in reserves its attempt (`reserve`: look and count as a failure, under one
lock) before the password is checked, and gives it back when the password was right. Looking
before the slow hash and counting after it let 40 concurrent guesses all pass a limit of 20.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from controller.domain.throttle import FailureThrottle

if TYPE_CHECKING:  # a hint only: the door process imports this module and never loads Starlette
    from starlette.requests import Request

WINDOW = timedelta(minutes=15)
FIRST_PAUSE = timedelta(seconds=30)
MAX_PAUSE = timedelta(minutes=15)
USERNAME_FAILURES = 5  # free tries for one username in the window: typos, caps lock
ADDRESS_FAILURES = 20  # free tries from one address in the window: a shared office PC


class SignInPaused(Exception):
    """Too many wrong passwords for this username or from this address: try again later."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"sign-in paused until {until.isoformat()}")
        self.until = until

    def retry_after(self, now: datetime) -> int:
        """Whole seconds to wait, at least 1 (for a Retry-After header or a page)."""
        return max(1, int((self.until - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class Reservation:
    """One sign-in attempt, counted as a failure until `LoginThrottle.settle` says otherwise.

    `pause_if_wrong`: when the pause this attempt starts ends, if it is wrong and starts one."""

    username: str
    address: str
    at: datetime
    pause_if_wrong: datetime | None


class LoginThrottle:
    """Per-username and per-address failure counters; safe to share between request threads."""

    def __init__(
        self, username_failures: int = USERNAME_FAILURES, address_failures: int = ADDRESS_FAILURES
    ) -> None:
        self._lock = threading.Lock()
        self._by_username = FailureThrottle(username_failures, WINDOW, FIRST_PAUSE, MAX_PAUSE)
        self._by_address = FailureThrottle(address_failures, WINDOW, FIRST_PAUSE, MAX_PAUSE)

    def check(self, username: str, address: str, now: datetime) -> None:
        """Raises SignInPaused while either counter holds; the password is then not even checked."""
        with self._lock:
            until = self._paused_until(username, address, now)
        if until is not None:
            raise SignInPaused(until)

    def failed(self, username: str, address: str, now: datetime) -> datetime | None:
        """Count a wrong password; returns when the pause this failure starts ends, if it starts one."""
        with self._lock:
            self._by_username.record_failure(_key(username), now)
            self._by_address.record_failure(address, now)
            return self._paused_until(username, address, now)

    def reserve(self, username: str, address: str, now: datetime) -> Reservation:
        """Check and count one attempt at once (SignInPaused while either counter holds), so
        that concurrent attempts see each other before any password is checked."""
        with self._lock:
            until = self._paused_until(username, address, now)
            if until is not None:
                raise SignInPaused(until)
            self._by_username.record_failure(_key(username), now)
            self._by_address.record_failure(address, now)
            return Reservation(username, address, now, self._paused_until(username, address, now))

    def settle(self, reservation: Reservation, right: bool) -> None:
        """A right password: the username's run of typos ends and the address's attempt is
        given back. A wrong one stays counted (nothing to do)."""
        if right:
            with self._lock:
                self._by_username.clear(_key(reservation.username))
                self._by_address.withdraw(reservation.address, reservation.at)

    def cancel(self, reservation: Reservation) -> None:
        """The password was not checked at all (the server was busy): the attempt does not count."""
        with self._lock:
            self._by_username.withdraw(_key(reservation.username), reservation.at)
            self._by_address.withdraw(reservation.address, reservation.at)

    def succeeded(self, username: str) -> None:
        """A right password ends that username's run of typos (not the address's count)."""
        with self._lock:
            self._by_username.clear(_key(username))

    def _paused_until(self, username: str, address: str, now: datetime) -> datetime | None:
        pauses = [
            until
            for until in (
                self._by_username.paused_until(_key(username), now),
                self._by_address.paused_until(address, now),
            )
            if until
        ]
        return max(pauses, default=None)


def _key(username: str) -> str:
    return username.strip().casefold()[:64]


def client_address(request: Request) -> str:
    """The address a request came from as the server saw it: behind a reverse proxy the
    proxy's (all clients then share one address counter), unless `[web] trusted_proxies`
    lists it, in which case uvicorn has already put the X-Forwarded-For client here."""
    return request.client.host if request.client else "unknown"
