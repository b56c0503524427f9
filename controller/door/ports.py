"""What the door is told and what it drives: its inputs, its outputs and the snapshot it shows.

The door machine (machine.py) depends only on these small interfaces, so the hardware wiring,
the simulator and the tests plug in their own relay, signals and display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from controller.domain.events import DoorAlarm
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.services.lms import LmsAnswer
from drivers.base import CardRead, KeyPress, ReaderFault
from drivers.beams import PersonCrossed


# --- what the door is told -------------------------------------------------------------
@dataclass(frozen=True)
class DoorContactChanged:
    is_open: bool


@dataclass(frozen=True)
class ExitRequest:
    """The REX button inside was pressed."""


@dataclass(frozen=True)
class OpenButtonPressed:
    """The 'open' button inside was pressed: the door operator opens the door, and it lets
    people out as the REX button does."""


@dataclass(frozen=True)
class HelpRequested:
    """The help button at the entrance was pressed: record it and say help was called."""


@dataclass(frozen=True)
class ModeChanged:
    mode: DoorMode
    cause: str = ""


@dataclass(frozen=True)
class ClosingWarning:
    """Open+ ends in `minutes`: tell the people inside."""

    minutes: int


@dataclass(frozen=True)
class RemoteUnlock:
    """Security staff unlocked the door from the admin API; audited with their name."""

    actor: str


DoorInput = (
    CardRead
    | KeyPress
    | ReaderFault
    | DoorContactChanged
    | ExitRequest
    | OpenButtonPressed
    | HelpRequested
    | ModeChanged
    | ClosingWarning
    | RemoteUnlock
    | LmsAnswer
    | PersonCrossed
)  # PersonCrossed: the people counter (drivers/beams.py)


# --- what the door drives ----------------------------------------------------------------
class Relay(Protocol):
    def unlock(self) -> None: ...
    def lock(self) -> None: ...
    @property
    def is_unlocked(self) -> bool: ...


class Signals(Protocol):
    def show_granted(self) -> None: ...
    def show_refused(self) -> None: ...
    def beep(self, seconds: float | None = None, times: int = 1) -> None: ...
    def all_off(self) -> None: ...


class Switch(Protocol):
    def on(self) -> None: ...
    def off(self) -> None: ...


class Alarm(Protocol):
    def arm(self) -> None: ...
    def disarm(self) -> None: ...


@dataclass
class DoorOutputs:
    """The door's actuators; lights, the intruder-alarm line and the door operator are optional."""

    relay: Relay
    signals: Signals
    show: Callable[[DoorMessage], None]
    lights: Switch | None = None
    alarm: Alarm | None = None
    announce: Callable[[int], None] | None = None  # plays the closing announcement, if set
    operator: Switch | None = None  # an automatic door operator's trigger, pulsed to open


class Phase(StrEnum):
    IDLE = "idle"
    AWAITING_PIN = "awaiting_pin"
    CHECKING = "checking"  # card and PIN are with the library system; the door waits, bounded
    UNLOCKED = "unlocked"


@dataclass(frozen=True)
class OccupancyCount:
    """The people counter's tally (controller.door.occupancy), kept in the state file so a
    restart resumes it instead of starting at 0 with someone inside."""

    mode: DoorMode  # the mode it was counted in: a change into Open+ restarts it at 0
    inside: int
    came_in: int  # crossings in since `since`
    went_out: int
    since: datetime  # when this count began (the last change into Open+, or the door's start)
    closing_round: bool = False  # the alarm waits for an empty building


@dataclass(frozen=True)
class DoorSnapshot:
    """What pages, the simulator and the state file show; never the card or the PIN."""

    mode: DoorMode
    phase: Phase
    relay_unlocked: bool
    door_open: bool
    alarm: DoorAlarm | None
    message: DoorMessage
    pin_keys: int
    at: datetime
    # Seconds left of the unlock pulse under way (None: none runs): a member with "more time"
    # has a longer one, and a new pulse may extend one, so the screen counts down from this.
    unlock_seconds_left: float | None = None
    # People inside by the people counter (None: no counter is fitted).
    occupancy: int | None = None
    # The whole tally, for the state file only: the door link and the pages carry `occupancy`,
    # so it takes no part in comparing snapshots.
    count: OccupancyCount | None = field(default=None, compare=False)
