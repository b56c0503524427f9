"""GET /api/v1/health: the one route that needs no token (for monitoring); names what is wrong.

It answers 200 whenever the web side and its database work. `status` is `down` when the door
cannot admit anyone (the door process not reachable, its door loop not running), `degraded`
when anything else is wrong (the loop late, a reader disconnected, the camera faulted, the
disk low, the library system out of reach, events waiting for the database or spilled to a
file), else `ok`. `problems` names each (controller/services/metrics/health.py's
ProblemName); `reason` is the first one's detail, as before. Nothing personal is in it: it is
open to anyone who reaches the web process.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from controller.api.deps import Conn, Services
from controller.api.schemas import TimePoint
from controller.http.health import assess
from controller.services.metrics.health import ProblemName
from controller.store.db import schema_version

router = APIRouter(prefix="/health", tags=["health"])


class ProblemOut(BaseModel):
    name: ProblemName = Field(description="What is wrong, as a stable name for monitors.")
    detail: str = Field(description="The same for people.", examples=["reader rfid is disconnected"])


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "down"] = Field(
        description="down: the door cannot admit anyone; degraded: something else is wrong."
    )
    reason: str | None = Field(
        description="The first problem's detail; null when ok.",
        examples=["the door loop last turned 7.3 s ago"],
    )
    problems: list[ProblemOut] = Field(description="Everything wrong, each by name; empty when ok.")
    door_last_turn_seconds: float | None = Field(
        description="Seconds since the door loop last turned; null when the door is not "
        "reachable or does not say.",
        examples=[0.2],
    )
    schema_version: int
    time: TimePoint


@router.get(
    "",
    response_model=HealthOut,
    summary="Is the API up, its database readable, the door turning; what is degraded?",
)
def health(services: Services, conn: Conn) -> HealthOut:
    version = schema_version(conn)  # on the request's connection: proves the database reads
    found = assess(services)
    age = found.last_turn_age
    return HealthOut(
        status=found.status,
        reason=found.problems[0].detail if found.problems else None,
        problems=[ProblemOut(name=p.name, detail=p.detail) for p in found.problems],
        door_last_turn_seconds=None if age is None else round(age, 3),
        schema_version=version,
        time=TimePoint.of(services.runtime.clock()),
    )
