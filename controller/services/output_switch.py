"""A manager switching a building output ([[outputs]]) by hand, from the API or the Today page.

The web process asks the door process over the door link (the pins are the door's) and, once
the door has switched, records an admin_change naming who did what: the door process never
waits on the database for it. An output unknown to the config is refused here, before the
door is asked, so a typo is a 404 and not a door that "refused".
"""

from __future__ import annotations

import sqlite3
from typing import Literal, Protocol, runtime_checkable

from controller.config.outputs import door_lines
from controller.domain.clock import format_local
from controller.domain.events import Event, EventType
from controller.domain.outputs import OutputStatus, UnknownOutput
from controller.services.runtime import Runtime
from controller.store.db import transaction
from controller.store.events import EventLog

OUTPUT_SWITCHED = "output_switched"  # the admin_change's reason
OutputChoice = Literal["on", "off", "auto"]


@runtime_checkable
class OutputControl(Protocol):
    """The door's building outputs as the web process reaches them (DoorLinkClient has both)."""

    def outputs(self) -> list[OutputStatus]: ...

    def set_output(self, name: str, state: str, actor: str) -> OutputStatus: ...


def output_control(door: object) -> OutputControl | None:
    """The door as an OutputControl, or None when this door connection cannot switch outputs."""
    return door if isinstance(door, OutputControl) else None


def configured_outputs(runtime: Runtime) -> list[str]:
    """The names in [[outputs]], in the config's order, and the old [hardware] lights/alarm."""
    return [output.name for output in door_lines(runtime.settings.outputs, runtime.settings.hardware)]


def switch_output(
    conn: sqlite3.Connection,
    runtime: Runtime,
    control: OutputControl,
    name: str,
    choice: OutputChoice,
    actor: str,
) -> OutputStatus:
    """Switch `name` on or off until its next planned switch, or back to the schedule ("auto"),
    then audit it. Raises UnknownOutput for a name not in [[outputs]]; DoorUnavailable (from
    the link) when the door cannot be reached, and then nothing is recorded."""
    if name not in configured_outputs(runtime):
        raise UnknownOutput(f"no output named '{name}' in [[outputs]]")
    status = control.set_output(name, choice, actor)
    until = (
        (format_local(status.next_at) if status.next_at is not None else "further notice")
        if choice != "auto"
        else "the schedule"
    )
    with transaction(conn):
        EventLog(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=runtime.clock(),
                door=runtime.settings.branch.door,
                reason=OUTPUT_SWITCHED,
                actor=actor,
                detail=f"output={name} state={choice} until={until}",
            )
        )
    return status
