"""Staff passwords: argon2id hashing with a bound on how many hashes run at once.

Sign-in (pages and API) and user admin hash and verify through one `Passwords`, so the
memory a burst of logins may take is bounded in one place."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Decision: OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane) instead of argon2-cffi's
# default (64 MiB, 3 passes, 4 lanes): sized for a Raspberry Pi with 1-2 GB that also runs
# the door. Measured with bench/password_cost.py (README, "Admin API"). Hashes made with
# other parameters still verify and are replaced at the next right sign-in.
PASSWORD_TIME_COST = 2
PASSWORD_MEMORY_KIB = 19 * 1024
PASSWORD_PARALLELISM = 1
# At most this many argon2 computations at once in one process (19 MiB each): 40 concurrent
# logins at the old 64 MiB took the web process to about 1.5 GB. A request waits this long
# for a slot, then is told to come back (HTTP 503 with Retry-After).
HASH_SLOTS = 2
HASH_WAIT_SECONDS = 2.0
BUSY_RETRY_AFTER_SECONDS = 5


class PasswordsBusy(Exception):
    """Every password-hash slot stayed taken for the whole wait: try again in a few seconds."""

    def __init__(self, retry_after: int = BUSY_RETRY_AFTER_SECONDS) -> None:
        super().__init__("busy checking other passwords: try again in a few seconds")
        self.retry_after = retry_after


class Passwords:
    """argon2id hashing with a bound on how many hashes run at once (memory: see HASH_SLOTS).

    Tests pass a cheap PasswordHasher; `slots` and `wait_seconds` size the bound."""

    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        slots: int = HASH_SLOTS,
        wait_seconds: float = HASH_WAIT_SECONDS,
    ) -> None:
        self._hasher = hasher or PasswordHasher(
            time_cost=PASSWORD_TIME_COST, memory_cost=PASSWORD_MEMORY_KIB, parallelism=PASSWORD_PARALLELISM
        )
        self._dummy: str | None = None
        self._slots = threading.BoundedSemaphore(slots)
        self._wait_seconds = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one hash slot; PasswordsBusy when none frees up within the wait."""
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise PasswordsBusy()
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        with self.slot():
            return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        with self.slot():
            return self._verify(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def burn(self, password: str) -> None:
        """Spend the same time as a real check, so unknown usernames can't be timed out."""
        with self.slot():
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            self._verify(self._dummy, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
