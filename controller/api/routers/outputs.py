"""Building outputs (role manager): their states now, and switching one by hand (audited).

The outputs are [[outputs]] in the config, driven by the schedule in the door process. A
manual on or off holds until the output's next planned switch; "auto" hands it back to the
schedule at once. Each switch is an admin_change naming who made it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import Actor, Conn, Services, require_role
from controller.api.schemas import TimePoint, error_responses
from controller.domain.outputs import OutputStatus, Source, UnknownOutput
from controller.http.services import ApiServices, DoorUnavailable
from controller.services.output_switch import OutputControl, output_control, switch_output
from controller.services.users import Role

router = APIRouter(
    prefix="/outputs",
    tags=["outputs"],
    dependencies=[Depends(require_role(Role.MANAGER))],
    responses=error_responses(401, 403, 503),
)

OutputName = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="An output's name from [[outputs]].")
]


class OutputOut(BaseModel):
    name: str = Field(examples=["public_pcs"])
    on: bool = Field(description="The pin's state now.")
    source: Source = Field(description="schedule, or manual while a manager's switch holds.")
    planned_on: bool = Field(description="What the schedule says now.")
    next_at: TimePoint | None = Field(
        description="The next planned switch, or when the manual state ends; null: none in sight."
    )
    next_on: bool | None
    manual_by: str | None = Field(description="Who switched it by hand (while that holds).")

    @classmethod
    def of(cls, status: OutputStatus) -> OutputOut:
        return cls(
            name=status.name,
            on=status.on,
            source=status.source,
            planned_on=status.planned_on,
            next_at=TimePoint.maybe(status.next_at),
            next_on=status.next_on,
            manual_by=status.manual_by,
        )


class SwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["on", "off", "auto"] = Field(
        description="on/off until the next planned switch; auto: the schedule's state now."
    )


def _control(services: ApiServices) -> OutputControl:
    control = output_control(services.door)
    if control is None:
        raise DoorUnavailable("this door connection cannot switch building outputs")
    return control


@router.get("", response_model=list[OutputOut], summary="Every building output now")
def list_outputs(services: Services) -> list[OutputOut]:
    if not services.runtime.settings.outputs:
        return []
    return [OutputOut.of(status) for status in _control(services).outputs()]


@router.post(
    "/{name}",
    response_model=OutputOut,
    responses=error_responses(400, 404, 413, 422),
    summary="Switch an output by hand, or back to the schedule (audited)",
)
def switch(name: OutputName, body: SwitchIn, services: Services, conn: Conn, actor: Actor) -> OutputOut:
    if name not in {output.name for output in services.runtime.settings.outputs}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no output named '{name}' in [[outputs]]")
    try:
        result = switch_output(conn, services.runtime, _control(services), name, body.state, actor)
    except UnknownOutput as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return OutputOut.of(result)
