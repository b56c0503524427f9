"""What the admin API needs from the rest of the service, passed in explicitly (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from controller.domain.schedule import Schedule
from controller.door.link import DoorUnavailable, LoopHealth
from controller.door.ports import DoorSnapshot
from controller.services.footage import FootageService
from controller.services.login_throttle import LoginThrottle
from controller.services.metrics import Gauges
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.users import DEFAULT_LOGIN_TTL

# DoorUnavailable and LoopHealth live with the door link (the door process does not import
# the web stack); the API code imports them from here.
__all__ = ["ApiServices", "DoorControl", "DoorUnavailable", "LoopHealth"]


class DoorControl(Protocol):
    """The running door as the API sees it: in `openplus-door web`, a DoorLinkClient talking
    to the door process. Every method may raise DoorUnavailable (answered with 503)."""

    def snapshot(self) -> DoorSnapshot | None:
        """The door's last published state; None when it has not started."""
        ...

    def loop_health(self) -> LoopHealth:
        """Whether the door loop runs and how long ago it last turned (for /health)."""
        ...

    def remote_unlock(self, actor: str) -> None:
        """Queue a remote unlock pulse; the door records REMOTE_UNLOCK naming `actor`.

        May raise DoorUnavailable when the door loop is not running.
        """
        ...

    def metrics(self) -> dict[str, Any]:
        """The door process's counters and gauges (DoorMetrics.report) for /metrics and
        /api/v1/health: readers, camera, LMS link, event writer, decisions."""
        ...


@dataclass
class ApiServices:
    """Everything one API app uses; build one per app (tests build several side by side).

    runtime           settings, database (a new connection per request), PIN hasher, clock
    door              the running door: snapshot, loop health, remote unlock (in
                      `openplus-door web` a DoorLinkClient to the door process)
    schedule_changed  called after a schedule replace is committed, so the door
                      recomputes its mode at once (over the link: the door reloads it)
    passwords         argon2id hashing; tests pass a cheap PasswordHasher
    login_token_ttl   lifetime of tokens from POST /auth/token (default 12 h)
    login_throttle    wrong-password counters shared by the API login and the sign-in page
    footage           the camera's footage (clips, segments, keep marks); None: no camera
    gauges            numbers this process's parts keep, shown on /metrics (e.g. a queue's
                      length: gauges.set(name, read, help)); the door process has its own
    """

    runtime: Runtime
    door: DoorControl
    schedule_changed: Callable[[Schedule], None]
    passwords: Passwords = field(default_factory=Passwords)
    login_token_ttl: timedelta = DEFAULT_LOGIN_TTL
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    footage: FootageService | None = None
    gauges: Gauges = field(default_factory=Gauges)
