"""GET /api/v1/health: the one route that needs no token (for monitoring); says little."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from controller.api.deps import Conn, Services
from controller.api.schemas import TimePoint

router = APIRouter(prefix="/health", tags=["health"])


class HealthOut(BaseModel):
    status: Literal["ok"]
    schema_version: int
    time: TimePoint


@router.get("", response_model=HealthOut, summary="Is the API up and its database readable?")
def health(services: Services, conn: Conn) -> HealthOut:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return HealthOut(status="ok", schema_version=version, time=TimePoint.of(services.runtime.clock()))
