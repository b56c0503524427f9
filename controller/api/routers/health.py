"""GET /api/v1/health: the one route that needs no token (for monitoring); says little.

It answers 200 whenever the web side and its database work. `status` is `degraded`, with the
reason, when the door process is not reachable, its door loop is not running, or the loop's
last turn is older than LATE_SECONDS (it turns at least twice a second when healthy).
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from controller.api.deps import Conn, Services
from controller.api.schemas import TimePoint
from controller.http.services import DoorUnavailable
from controller.store.db import schema_version

router = APIRouter(prefix="/health", tags=["health"])

LATE_SECONDS = 5.0


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    reason: str | None = Field(description="Why degraded; null when ok.",
                               examples=["the door loop last turned 7.3 s ago"])
    door_last_turn_seconds: float | None = Field(
        description="Seconds since the door loop last turned; null when the door is not "
                    "reachable or does not say.", examples=[0.2])
    schema_version: int
    time: TimePoint


def door_problem(services: Services) -> tuple[str | None, float | None]:
    """(why the door is not healthy or None, seconds since the loop's last turn)."""
    try:
        health = services.door.loop_health()
    except DoorUnavailable as exc:
        return str(exc), None
    age = health.last_turn_age
    if health.alive is False:
        return "the door loop is not running", age
    if age is not None and age > LATE_SECONDS:
        return f"the door loop last turned {age:.1f} s ago", age
    return None, age


@router.get("", response_model=HealthOut, summary="Is the API up, its database readable, the door turning?")
def health(services: Services, conn: Conn) -> HealthOut:
    version = schema_version(conn)  # on the request's connection: proves the database reads
    problem, age = door_problem(services)
    return HealthOut(status="degraded" if problem else "ok", reason=problem,
                     door_last_turn_seconds=None if age is None else round(age, 3),
                     schema_version=version, time=TimePoint.of(services.runtime.clock()))
