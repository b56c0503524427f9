"""What is degraded, by name: the door process's report (counters.py) read by the web process,
plus what the web process sees itself (the disk, a spill file left by the event writer).

Why names: a monitor (or the alert rules) must tell "the camera faulted" from "the door is
down" without parsing sentences. Each Problem has a stable `name` (ProblemName) and a `detail`
for people. `status` is "down" when the door cannot admit anyone (its process unreachable or
its loop stopped), "degraded" for any other problem, else "ok".
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

LATE_SECONDS = 5.0  # the door loop turns at least twice a second when healthy
BACKLOG_WRITES = 500  # event writes waiting before health says the database lags behind
Status = Literal["ok", "degraded", "down"]


class ProblemName(StrEnum):
    DOOR_UNREACHABLE = "door_unreachable"  # the door process does not answer on the door link
    DOOR_LOOP_STOPPED = "door_loop_stopped"
    DOOR_LOOP_LATE = "door_loop_late"
    READER_DISCONNECTED = "reader_disconnected"
    CAMERA_FAULTED = "camera_faulted"
    DISK_LOW = "disk_low"
    LMS_DOWN = "lms_down"  # the library system is out of reach: the offline policy decides
    EVENT_BACKLOG = "event_backlog"  # events waiting for the database
    EVENTS_SPILLED = "events_spilled"  # events kept in the spill file, not yet in the database


DOWN = frozenset({ProblemName.DOOR_UNREACHABLE, ProblemName.DOOR_LOOP_STOPPED})


@dataclass(frozen=True)
class Problem:
    name: ProblemName
    detail: str


def status_of(problems: list[Problem]) -> Status:
    if any(problem.name in DOWN for problem in problems):
        return "down"
    return "degraded" if problems else "ok"


def loop_problem(alive: bool | None, age: float | None) -> Problem | None:
    """The door loop stopped, or its last turn is older than LATE_SECONDS."""
    if alive is False:
        return Problem(ProblemName.DOOR_LOOP_STOPPED, "the door loop is not running")
    if age is not None and age > LATE_SECONDS:
        return Problem(ProblemName.DOOR_LOOP_LATE, f"the door loop last turned {age:.1f} s ago")
    return None


def door_problems(report: dict[str, Any]) -> list[Problem]:
    """What the door process's report (DoorMetrics.report) says is wrong; a part it does not
    mention (an older door process, a stub) is taken as fine."""
    problems = [
        Problem(ProblemName.READER_DISCONNECTED, f"reader {reader.get('name')} is disconnected")
        for reader in _list(report.get("readers"))
        if reader.get("connected") is False
    ]
    camera = _dict(report.get("camera"))
    if camera.get("enabled") and camera.get("fault"):
        problems.append(Problem(ProblemName.CAMERA_FAULTED, f"camera fault: {camera['fault']}"))
    lms = _dict(report.get("lms"))
    if lms.get("enabled") and lms.get("up") is False:
        problems.append(
            Problem(ProblemName.LMS_DOWN, "the library system is out of reach; the offline policy decides")
        )
    waiting = _dict(report.get("event_writer")).get("waiting")
    if isinstance(waiting, (int, float)) and waiting > BACKLOG_WRITES:
        problems.append(
            Problem(ProblemName.EVENT_BACKLOG, f"{waiting:.0f} event writes wait for the database")
        )
    return problems


def disk_problem(folder: Path, low_mb: int) -> Problem | None:
    """Less than `low_mb` MB free on the disk that holds `folder` (or its nearest existing
    parent: the footage folder is made when the camera first records)."""
    free = free_bytes(folder)
    if free is None or free >= low_mb * 1024 * 1024:
        return None
    return Problem(ProblemName.DISK_LOW, f"{free // (1024 * 1024)} MB free for {folder} (below {low_mb} MB)")


def free_bytes(folder: Path) -> int | None:
    """Free bytes for an unprivileged writer where `folder` is; None when nothing is there."""
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def spill_problem(spill_files: list[Path]) -> Problem | None:
    """The event writer's spill file (or the copy being written back) exists: events are kept
    outside the database until it takes them."""
    present = [path.name for path in spill_files if path.exists()]
    if not present:
        return None
    return Problem(ProblemName.EVENTS_SPILLED, f"events wait outside the database in {', '.join(present)}")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
