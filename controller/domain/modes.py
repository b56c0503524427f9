"""The door modes the schedule produces and the access decision reads."""

from __future__ import annotations

from enum import StrEnum


class DoorMode(StrEnum):
    """What the branch is doing right now."""

    STAFFED = "staffed"  # staff present: door free (configurable) or card + PIN
    OPENPLUS = "openplus"  # unstaffed Open+ hours: registered members with card + PIN
    CLOSED = "closed"  # outside opening hours on an ordinary day
    CLOSURE = "closure"  # closed all day: public holiday or announced closure

    @property
    def is_closed(self) -> bool:
        return self in (DoorMode.CLOSED, DoorMode.CLOSURE)
