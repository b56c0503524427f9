"""What the event log records: every attempt, door movement, alarm, mode change and admin change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class EventType(StrEnum):
    ACCESS_GRANTED = "access_granted"
    ACCESS_REFUSED = "access_refused"
    DOOR_OPENED = "door_opened"
    DOOR_CLOSED = "door_closed"
    DOOR_FORCED = "door_forced"
    DOOR_HELD_OPEN = "door_held_open"
    EXIT_REQUEST = "exit_request"
    REMOTE_UNLOCK = "remote_unlock"
    MODE_CHANGED = "mode_changed"
    CLOSING_WARNING = "closing_warning"
    ADMIN_CHANGE = "admin_change"
    READER_FAULT = "reader_fault"
    CAMERA_FAULT = "camera_fault"
    SIGN_IN_PAUSED = "sign_in_paused"  # too many wrong staff passwords: API login / pages paused
    ALARM = "alarm"  # someone is guessing at the door; `reason` says how (AlarmReason)
    SERVICE = "service"  # start, stop, fail-secure actions
    LMS_LINK = "lms_link"  # the library system went out of reach or came back (LmsLinkReason)
    OUTPUT_FAULT = "output_fault"  # the LCD or the voice failed (OutputFaultReason); the door goes on
    HELP_REQUESTED = "help_requested"  # the help button at the entrance: someone should answer
    # The people counter (controller/door/occupancy.py): more people in than grants in one door
    # opening; fewer; someone inside by the count when Open+ ended (reason "recovered": empty
    # again, alarm armed); and staff confirming the building empty with their card at closing.
    TAILGATING = "tailgating"
    GRANT_UNUSED = "grant_unused"
    OCCUPIED_AT_CLOSING = "occupied_at_closing"
    BUILDING_EMPTY_CONFIRMED = "building_empty_confirmed"


class AlarmReason(StrEnum):
    """Why an `alarm` event was logged: signs of guessing that staff should look at."""

    PIN_LOCKOUTS_ESCALATING = "pin_lockouts_escalating"  # a card locked again, without a right PIN
    CARD_CYCLING = "card_cycling"  # the door's readers slowed down: many refused cards


class LmsLinkReason(StrEnum):
    """Why an `lms_link` event was logged: while the link is lost the offline policy decides."""

    LMS_LOST = "lms_lost"  # no connection to the library system is up
    LMS_BACK = "lms_back"  # a connection is up again


class OutputFaultReason(StrEnum):
    """Why an `output_fault` event was logged: a member was not shown or told something."""

    SOUND_MISSING = "sound_missing"  # no <sounds_dir>/<lang>/<name>.wav for a message
    SOUND_BROKEN = "sound_broken"  # the file is there but is no readable WAV
    PLAYER_FAILED = "player_failed"  # the play command is missing, failed or hung
    DISPLAY_UNREACHABLE = "display_unreachable"  # the character LCD does not answer on I2C


class DoorAlarm(StrEnum):
    """Why the door itself is in alarm right now (DoorSnapshot.alarm; cleared when it closes).

    The values are what the state file, the door link and the API's `GET /door` show."""

    FORCED = "forced"  # opened without a grant or an exit request
    HELD_OPEN = "held_open"  # open longer than door.held_open_seconds

    @property
    def event_type(self) -> EventType:
        """The event the door logs when this alarm starts."""
        return EventType.DOOR_FORCED if self is DoorAlarm.FORCED else EventType.DOOR_HELD_OPEN


@dataclass(frozen=True)
class Event:
    """One row of the log; `member_ref` is a patron id, `card_hint` only the last digits."""

    type: EventType
    at: datetime  # aware; stored as UTC
    door: str
    reason: str | None = None
    member_ref: str | None = None
    card_hint: str | None = None
    actor: str | None = None
    detail: str | None = None
    id: int | None = None


class EventSink(Protocol):
    """Takes an event to store. On the door's path it must return at once (the EventWriter's
    queue); the CLI and tests may hand an EventLog, which writes before it returns."""

    def record(self, event: Event) -> object: ...
