"""What the door screen shows, built from the door's snapshots on the observer thread.

Why a feed of its own: the door thread only publishes a snapshot (BranchService posts it to the
ObserverQueue); here, on the observer thread, it becomes the screen's state (a pictogram, the
message in both languages, the PIN as a count of dots, a countdown) and any number of event
streams wait for the next version. Neither the door nor the observer thread ever waits on a
browser: a slow stream only misses versions in between, never the latest.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from controller.domain import messages
from controller.domain.catalog import render
from controller.domain.clock import Clock
from controller.domain.decision import Reason
from controller.domain.events import DoorAlarm
from controller.domain.messages import DoorMessage, door_message
from controller.domain.modes import DoorMode
from controller.door.ports import DoorSnapshot, Phase

HELD_OPEN = DoorMessage.of("screen.held_open")


class Picture(StrEnum):
    """One pictogram per state, so a member who reads little still sees what to do."""

    CARD = "card"  # hold your card to the reader
    KEYPAD = "keypad"  # type your PIN
    WAIT = "wait"  # one moment: the library system checks
    DOOR = "door"  # the door is open for you
    STOP = "stop"  # refused, closed or a fault
    CLOCK = "clock"  # the library closes soon


class Tone(StrEnum):
    NEUTRAL = "neutral"
    GOOD = "good"
    BAD = "bad"


REFUSALS = frozenset(
    door_message(reason) for reason in Reason if reason not in (Reason.GRANTED, Reason.READER_SLOWED)
) | {messages.FAULT}
# Help has been called (the help button): wait, someone is coming.
WAITS = frozenset({messages.CHECKING, door_message(Reason.READER_SLOWED), messages.HELP_REQUESTED})
OPEN_DOOR = frozenset({door_message(Reason.GRANTED), messages.DOOR_FREE})


@dataclass(frozen=True)
class ScreenState:
    """One version of the screen, as the page receives it (JSON)."""

    version: int
    picture: Picture
    tone: Tone
    nl: str
    en: str
    mode: str
    mode_nl: str
    mode_en: str
    phase: str
    pin_keys: int | None  # None: no PIN is being typed, so no dots
    unlock_seconds: float | None  # left of the unlock pulse, when it runs
    closing_seconds: float | None  # left until Open+ ends, after a closing warning

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


def picture_for(snapshot: DoorSnapshot, closing: bool) -> tuple[Picture, Tone, DoorMessage]:
    """The pictogram, its colour and the message for one snapshot (the door's own message,
    except while the door stands open too long: then the screen asks to close it)."""
    message = snapshot.message
    if snapshot.alarm is DoorAlarm.HELD_OPEN:
        return Picture.DOOR, Tone.BAD, HELD_OPEN
    if snapshot.phase is Phase.CHECKING or message in WAITS:
        return Picture.WAIT, Tone.NEUTRAL, message
    if snapshot.phase is Phase.AWAITING_PIN and snapshot.pin_keys > 0:
        return Picture.KEYPAD, Tone.NEUTRAL, messages.PROMPT_PIN  # typing again after a wrong PIN
    if message in REFUSALS or snapshot.alarm is DoorAlarm.FORCED:
        return Picture.STOP, Tone.BAD, message
    if snapshot.phase is Phase.UNLOCKED or message in OPEN_DOOR:
        return Picture.DOOR, Tone.GOOD, message
    if snapshot.phase is Phase.AWAITING_PIN:
        return Picture.KEYPAD, Tone.NEUTRAL, message
    if closing:
        return Picture.CLOCK, Tone.NEUTRAL, message
    return Picture.CARD, Tone.NEUTRAL, message


class ScreenFeed:
    """The latest screen state and its version; `update` and `closing_in` on the observer
    thread, `wait_newer` on each event stream's thread."""

    def __init__(self, unlock_seconds: float, clock: Clock) -> None:
        self._unlock_seconds = unlock_seconds
        self._clock = clock
        self._changed = threading.Condition()
        self._state: ScreenState | None = None
        self._json = ""
        self._shown: tuple | None = None
        self._snapshot: DoorSnapshot | None = None
        self._unlocked_at: datetime | None = None
        self._closing_at: datetime | None = None
        self._closing_mode: DoorMode | None = None
        self.closed = False

    # --- the observer thread -------------------------------------------------------------------
    def update(self, snapshot: DoorSnapshot) -> None:
        """A new door snapshot: a new version when anything the page shows changed."""
        if snapshot.phase is Phase.UNLOCKED:
            if self._unlocked_at is None:
                self._unlocked_at = snapshot.at
        else:
            self._unlocked_at = None
        if self._closing_at is not None and (
            snapshot.mode is not self._closing_mode or snapshot.at >= self._closing_at
        ):
            self._closing_at = None  # Open+ has ended (or the mode changed by hand)
        self._snapshot = snapshot
        self._publish(snapshot.at)

    def closing_in(self, minutes: int) -> None:
        """A closing warning: count down to the end of Open+ until the mode changes."""
        now = self._clock()
        self._closing_at = now + timedelta(minutes=minutes)
        self._closing_mode = self._snapshot.mode if self._snapshot is not None else None
        self._publish(now)

    def close(self) -> None:
        """The door process stops: every stream says so and ends."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    # --- the event streams ---------------------------------------------------------------------
    def wait_newer(self, version: int, timeout: float) -> tuple[int, str] | None:
        """(version, JSON) once a version after `version` exists, or None after `timeout`
        seconds (the stream sends a heartbeat) or when the feed closed."""
        with self._changed:
            self._changed.wait_for(self._newer_than(version), timeout)
            state = self._state
            if self.closed or state is None or state.version <= version:
                return None
            return state.version, self._json

    def current(self) -> ScreenState | None:
        return self._state

    def _newer_than(self, version: int):
        return lambda: self.closed or (self._state is not None and self._state.version > version)

    def _publish(self, now: datetime) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        picture, tone, message = picture_for(snapshot, self._closing_at is not None)
        unlock = None
        if self._unlocked_at is not None:  # the door's own count (longer for "more time")
            unlock = snapshot.unlock_seconds_left
            if unlock is None:  # a snapshot without it: counted from the start of the pulse
                unlock = max(0.0, self._unlock_seconds - (snapshot.at - self._unlocked_at).total_seconds())
        closing = max(0.0, (self._closing_at - now).total_seconds()) if self._closing_at is not None else None
        pin_keys = snapshot.pin_keys if snapshot.phase is Phase.AWAITING_PIN else None
        shown = (
            picture,
            tone,
            message,
            snapshot.mode,
            snapshot.phase,
            pin_keys,
            self._unlocked_at,
            self._closing_at,
        )
        if shown == self._shown:
            return  # a tick that changed nothing on the screen
        self._shown = shown
        mode = snapshot.mode.value
        with self._changed:
            version = self._state.version + 1 if self._state is not None else 1
            self._state = ScreenState(
                version=version,
                picture=picture,
                tone=tone,
                nl=message.nl,
                en=message.en,
                mode=mode,
                mode_nl=render(f"mode.{mode}", "nl"),
                mode_en=render(f"mode.{mode}", "en"),
                phase=snapshot.phase.value,
                pin_keys=pin_keys,
                unlock_seconds=None if unlock is None else round(unlock, 2),
                closing_seconds=None if closing is None else round(closing, 1),
            )
            self._json = self._state.to_json()
            self._changed.notify_all()
