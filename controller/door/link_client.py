"""The web side of the door link: the door as the web process sees it (the API's DoorControl).

Split from controller.door.link (what both ends share) and controller.door.link_server so
that the web process loads only this and the shared module.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from controller.domain.outputs import OutputStatus
from controller.domain.schedule import Schedule
from controller.door.link import (
    MAX_REPLY_BYTES,
    DoorUnavailable,
    LoopHealth,
    json_line,
    reachable,
    read_line,
    snapshot_from_json,
)
from controller.door.ports import DoorSnapshot

CLIENT_TIMEOUT = 1.0
# The door reads the schedule from SQLite before it answers, after the reload spacing and a
# wait of up to 1 s for a moment between members; a request may also queue behind one reload.
SCHEDULE_TIMEOUT = 5.0


class DoorLinkClient:
    """The door as the web process sees it (the API's DoorControl), over the door link.

    Every call is a new connection with a deadline (CLIENT_TIMEOUT, SCHEDULE_TIMEOUT for the
    schedule reload); an unreachable or silent door raises DoorUnavailable.
    """

    def __init__(
        self, path: Path, timeout: float = CLIENT_TIMEOUT, schedule_timeout: float = SCHEDULE_TIMEOUT
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.schedule_timeout = schedule_timeout

    def request(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send one request, return the door's answer (ok true); DoorUnavailable otherwise."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            with reachable(self.path) as (folder, _fd):
                sock.connect(f"{folder}/{self.path.name}")
            sock.sendall(json_line(message))
            raw = read_line(sock, MAX_REPLY_BYTES, deadline)
        except (OSError, ValueError) as exc:
            raise DoorUnavailable(f"the door process is not reachable ({_why(exc)})") from None
        finally:
            sock.close()
        try:
            reply = json.loads(raw) if raw is not None else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise DoorUnavailable("the door process gave no readable answer")
        if reply.get("ok") is not True:
            raise DoorUnavailable(f"the door process refused: {reply.get('error', 'no reason')}")
        return reply

    def state(self) -> tuple[DoorSnapshot | None, LoopHealth]:
        reply = self.request({"op": "state"})
        try:
            door = reply.get("door")
            snapshot = snapshot_from_json(door) if door is not None else None
            loop = reply.get("loop") or {}
            alive, age = loop.get("alive"), loop.get("last_turn_age")
            health = LoopHealth(
                alive=None if alive is None else bool(alive),
                last_turn_age=None if age is None else float(age),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DoorUnavailable("the door process gave no readable state") from None
        return snapshot, health

    # --- DoorControl ---------------------------------------------------------------------------
    def snapshot(self) -> DoorSnapshot | None:
        return self.state()[0]

    def loop_health(self) -> LoopHealth:
        return self.state()[1]

    def remote_unlock(self, actor: str) -> None:
        self.request({"op": "unlock", "actor": actor})

    def schedule_changed(self, schedule: Schedule) -> None:
        """The schedule is already committed; the door reads it from the database itself."""
        self.request({"op": "schedule_changed"}, timeout=self.schedule_timeout)

    def metrics(self) -> dict[str, Any]:
        """The door process's counters and gauges (DoorMetrics.report), for /metrics and health."""
        report = self.request({"op": "metrics"}).get("metrics")
        if not isinstance(report, dict):
            raise DoorUnavailable("the door process gave no readable metrics")
        return report

    # --- building outputs ([[outputs]]) ---------------------------------------------------------
    def outputs(self) -> list[OutputStatus]:
        """Every building output as the door process has it now."""
        try:
            return [OutputStatus.from_json(item) for item in self.request({"op": "outputs"})["outputs"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DoorUnavailable("the door process gave no readable outputs") from None

    def set_output(self, name: str, state: str, actor: str) -> OutputStatus:
        """Switch one by hand (on/off until the next planned switch; auto: the schedule's)."""
        reply = self.request({"op": "set_output", "name": name, "state": state, "actor": actor})
        try:
            return OutputStatus.from_json(reply["output"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DoorUnavailable("the door process gave no readable output") from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, FileNotFoundError):
        return "no socket: is the door service running?"
    if isinstance(exc, ConnectionRefusedError):
        return "nobody listening: is the door service running?"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
