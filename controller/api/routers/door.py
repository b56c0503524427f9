"""The running door (role security): its state, and a remote unlock the door itself audits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from controller.api.deps import Actor, Services, require_role
from controller.api.schemas import TimePoint, error_responses
from controller.domain.events import DoorAlarm
from controller.domain.modes import DoorMode
from controller.door.ports import DoorSnapshot, Phase
from controller.http.services import DoorUnavailable
from controller.services.users import Role

router = APIRouter(
    prefix="/door",
    tags=["door"],
    dependencies=[Depends(require_role(Role.SECURITY))],
    responses=error_responses(401, 403, 503),
)


class DoorMessageOut(BaseModel):
    nl: str = Field(examples=["Houd uw pas voor de lezer"])
    en: str = Field(examples=["Hold your card to the reader"])


class DoorStateOut(BaseModel):
    mode: DoorMode
    phase: Phase
    relay_unlocked: bool
    door_open: bool
    alarm: DoorAlarm | None = Field(
        description="Why the door is in alarm now (null: it is not); cleared when it closes."
    )
    message: DoorMessageOut = Field(description="What the door's display shows.")
    at: TimePoint
    occupancy: int | None = Field(
        None, description="People inside by the people counter (null: no counter is fitted)."
    )

    @classmethod
    def of(cls, snap: DoorSnapshot) -> DoorStateOut:
        return cls(
            mode=snap.mode,
            phase=snap.phase,
            relay_unlocked=snap.relay_unlocked,
            door_open=snap.door_open,
            alarm=snap.alarm,
            message=DoorMessageOut(nl=snap.message.nl, en=snap.message.en),
            at=TimePoint.of(snap.at),
            occupancy=snap.occupancy,
        )


class UnlockOut(BaseModel):
    requested_by: str = Field(examples=["api:anna.b"])
    at: TimePoint


@router.get("", response_model=DoorStateOut, summary="The door's state right now")
def door_state(services: Services) -> DoorStateOut:
    snapshot = services.door.snapshot()
    if snapshot is None:
        raise DoorUnavailable("the door is not running")
    return DoorStateOut.of(snapshot)


@router.post(
    "/unlock",
    response_model=UnlockOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Unlock for one pulse (recorded as REMOTE_UNLOCK with your name)",
)
def remote_unlock(services: Services, actor: Actor) -> UnlockOut:
    services.door.remote_unlock(actor)
    return UnlockOut(requested_by=actor, at=TimePoint.of(services.runtime.clock()))
