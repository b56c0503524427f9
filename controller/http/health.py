"""One look at the whole controller from the web process: what /api/v1/health says and what
/metrics labels as problems, so both name the same things the same way.

It asks the door process over the door link (loop health, then its counters and gauges) and
looks at the disk and the event writer's spill file itself, which works with the door down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.door.event_writer import SPILL_FILE
from controller.http.services import ApiServices, DoorUnavailable
from controller.services.metrics.health import (
    Problem,
    ProblemName,
    Status,
    disk_problem,
    door_problems,
    loop_problem,
    spill_problem,
    status_of,
)
from controller.services.use_cases import footage_dir


@dataclass(frozen=True)
class Assessment:
    """The problems found, the door's report ({} when it did not answer) and its loop's age."""

    problems: list[Problem]
    door_report: dict[str, Any] = field(default_factory=dict)
    door_reachable: bool = False
    last_turn_age: float | None = None

    @property
    def status(self) -> Status:
        return status_of(self.problems)


def assess(services: ApiServices) -> Assessment:
    """Door, readers, camera, library system, event writer, disk: each problem by name."""
    settings = services.runtime.settings
    problems: list[Problem] = []
    report: dict[str, Any] = {}
    reachable, age = False, None
    try:
        health = services.door.loop_health()
        reachable, age = True, health.last_turn_age
        report = services.door.metrics()
    except DoorUnavailable as exc:
        if not reachable:
            problems.append(Problem(ProblemName.DOOR_UNREACHABLE, str(exc)))
    if reachable:
        loop = loop_problem(health.alive, age)
        problems += [loop] if loop is not None else []
        problems += door_problems(report)
    spill = settings.data_dir / SPILL_FILE
    local = [
        disk_problem(footage_folder(services), settings.metrics.disk_low_mb),
        spill_problem([spill, spill.with_suffix(".replay")]),
    ]
    problems += [problem for problem in local if problem is not None]
    return Assessment(problems, report, reachable, age)


def footage_folder(services: ApiServices) -> Path:
    """Where the camera's footage goes (the disk whose free space counts)."""
    return footage_dir(services.runtime.settings)
