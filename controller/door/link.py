"""The door link: a small local Unix socket between the door process and the web process.

The door process (`openplus-door serve`) runs `DoorLinkServer` (controller.door.link_server)
on its own thread; the web process (`openplus-door web`) talks to it through
`DoorLinkClient` (controller.door.link_client), which is the API's DoorControl. Everything
else the web side needs is in the database. This module is what both ends share: where the
socket is, the wire format and its limits, and the errors and values the web side sees; so
the web process never imports the server.

Protocol: one request per connection, one JSON object on one line (UTF-8, newline ended, at
most 4 KiB), answered by one JSON line, then the door closes the connection.

    {"op": "state"}                       -> {"ok": true, "door": {...} | null,
                                              "loop": {"alive": true, "last_turn_age": 0.12}}
    {"op": "unlock", "actor": "api:anna"} -> {"ok": true}   (an audited REMOTE_UNLOCK)
    {"op": "schedule_changed"}            -> {"ok": true}   (the door reloaded the schedule
                                                             from the database)
    {"op": "metrics"}                     -> {"ok": true, "metrics": {...}}  (the door's
                                             counters and gauges: controller/services/metrics/)
    {"op": "outputs"}                     -> {"ok": true, "outputs": [{...}, ...]}  (the
                                             building outputs: OutputStatus.to_json each)
    {"op": "set_output", "name": "pcs", "state": "on" | "off" | "auto", "actor": "web:anna"}
                                          -> {"ok": true, "output": {...}}  (a manual switch,
                                             held until the next planned one; "auto" ends it)
    anything else                         -> {"ok": false, "error": "..."}

`door` is the DoorSnapshot (null before the door's first state; its `occupancy` is the
people inside by the people counter, null without one); `loop.last_turn_age` is the
seconds since the door loop last turned (null if unknown), `loop.alive` whether its thread
runs (null if unknown).

Linux limits a socket path to 107 bytes; a longer path (deep data directories, pytest's
temporary folders) is reached through the directory's file descriptor under /proc/self/fd.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.domain.events import DoorAlarm
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.door.ports import DoorSnapshot, Phase

LINK_FILE = "door.sock"
LINK_ENV = "OPENPLUS_DOOR_LINK"  # overrides <data_dir>/door.sock, for both processes
MAX_REQUEST_BYTES = 4096
MAX_REPLY_BYTES = 64 * 1024
_SUN_PATH_MAX = 107  # sizeof(sun_path) - 1 on Linux


class DoorUnavailable(Exception):
    """The door loop is not running or not reachable; the API answers 503."""


@dataclass(frozen=True)
class LoopHealth:
    """How the door loop is doing, as the door process reports it."""

    alive: bool | None  # None: the loop does not say
    last_turn_age: float | None  # seconds since its last turn; None: not known


def link_path(data_dir: Path, env: dict[str, str] | None = None) -> Path:
    """Where the door listens: $OPENPLUS_DOOR_LINK, else door.sock in the data directory."""
    override = (os.environ if env is None else env).get(LINK_ENV)
    return Path(override).expanduser() if override else Path(data_dir) / LINK_FILE


# --- snapshots on the wire ---------------------------------------------------------------------
def snapshot_to_json(snapshot: DoorSnapshot) -> dict[str, Any]:
    return {
        "mode": snapshot.mode.value,
        "phase": snapshot.phase.value,
        "relay_unlocked": snapshot.relay_unlocked,
        "door_open": snapshot.door_open,
        "alarm": snapshot.alarm.value if snapshot.alarm else None,
        "message": {"nl": snapshot.message.nl, "en": snapshot.message.en},
        "pin_keys": snapshot.pin_keys,
        "at": snapshot.at.isoformat(),
        "occupancy": snapshot.occupancy,
    }


def snapshot_from_json(data: dict[str, Any]) -> DoorSnapshot:
    """Raises ValueError, KeyError or TypeError on anything but what snapshot_to_json made."""
    alarm = data["alarm"]
    if alarm is not None and not isinstance(alarm, str):
        raise TypeError("alarm")
    alarm = DoorAlarm(alarm) if alarm is not None else None  # ValueError: not an alarm kind
    at = datetime.fromisoformat(data["at"])
    if at.tzinfo is None:
        raise ValueError("a naive time")
    occupancy = data.get("occupancy")  # absent from a door process older than the counter
    if occupancy is not None and (isinstance(occupancy, bool) or not isinstance(occupancy, int)):
        raise TypeError("occupancy")
    return DoorSnapshot(
        mode=DoorMode(data["mode"]),
        phase=Phase(data["phase"]),
        relay_unlocked=bool(data["relay_unlocked"]),
        door_open=bool(data["door_open"]),
        alarm=alarm,
        message=DoorMessage(str(data["message"]["nl"]), str(data["message"]["en"])),
        pin_keys=int(data["pin_keys"]),
        at=at,
        occupancy=occupancy,
    )


# --- long socket paths ---------------------------------------------------------------------------
@contextmanager
def reachable(path: Path) -> Iterator[tuple[str, int | None]]:
    """(directory to use in a socket address, directory fd to close) for `path`'s folder."""
    if len(os.fsencode(str(path))) <= _SUN_PATH_MAX:
        yield str(path.parent), None
        return
    dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{dir_fd}", dir_fd
    finally:
        os.close(dir_fd)


# --- lines on the wire ---------------------------------------------------------------------------
def json_line(message: dict[str, Any]) -> bytes:
    """One message as the protocol sends it: compact JSON on one newline-ended line."""
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def read_line(conn: socket.socket, limit: int, deadline: float) -> bytes | None:
    """One line, without its newline; None when longer than `limit` or the peer stopped
    before the newline. Raises TimeoutError when the deadline passes first."""
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no whole line in time")
        conn.settimeout(remaining)
        chunk = conn.recv(limit + 1 - len(data))
        if not chunk:
            return None
        data += chunk
        end = data.find(b"\n")
        if end >= 0:
            return data[:end]
        if len(data) > limit:
            return None
