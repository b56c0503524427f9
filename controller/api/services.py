"""What the admin API needs from the rest of the service, passed in explicitly (no globals)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Protocol

from controller.door import DoorSnapshot
from controller.footage import FootageService
from controller.login_throttle import LoginThrottle
from controller.runtime import Runtime
from controller.schedule import Schedule
from controller.users import DEFAULT_LOGIN_TTL, Passwords


class DoorUnavailable(Exception):
    """The door loop is not running (or not reachable); the API answers 503."""


class DoorControl(Protocol):
    """The running door as the API sees it."""

    def snapshot(self) -> DoorSnapshot | None:
        """The door's last published state; None when it has not started."""
        ...

    def remote_unlock(self, actor: str) -> None:
        """Queue a remote unlock pulse; the door records REMOTE_UNLOCK naming `actor`.

        May raise DoorUnavailable when the door loop is not running.
        """
        ...


@dataclass
class ApiServices:
    """Everything one API app uses; build one per app (tests build several side by side).

    runtime           settings, database (a new connection per request), PIN hasher, clock
    door              snapshot + remote unlock of the running door
    schedule_changed  called after a schedule replace is committed, so the service
                      recomputes the door mode at once (ModeSwitcher.replace_schedule)
    passwords         argon2id hashing; tests pass a cheap PasswordHasher
    login_token_ttl   lifetime of tokens from POST /auth/token (default 12 h)
    login_throttle    wrong-password counters shared by the API login and the sign-in page
    footage           the camera's footage (clips, segments, keep marks); None: no camera
    """

    runtime: Runtime
    door: DoorControl
    schedule_changed: Callable[[Schedule], None]
    passwords: Passwords = field(default_factory=Passwords)
    login_token_ttl: timedelta = DEFAULT_LOGIN_TTL
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    footage: FootageService | None = None
