"""The voice's mode announcements: Open+ begins, a reminder every N minutes during Open+, closed.

The closing warnings ("closes in 15 minutes") are the door's own messages, planned by the
ModeSwitcher from `[door] closing_warning_minutes`; the voice speaks them like any door
message. What is planned here follows the schedule the switcher reports (`mode_now`, called
at start, at every edge and after every edit) on the door's ClockTimers, so it runs on the same
injected clock: a test moves the clock, nothing sleeps. A restart in the middle of Open+ does
not announce a start; the reminders are counted from when Open+ began, so a restart keeps
their rhythm.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from controller.config.voice import VoiceSettings
from controller.domain.clock import Clock
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.domain.timeline import ModeNow
from controller.door.timers import ClockTimers

log = logging.getLogger(__name__)

OPENPLUS_START = DoorMessage.of("display.openplus_start")
OPENPLUS_REMINDER = DoorMessage.of("display.openplus_reminder")
CLOSED = DoorMessage.of("display.closed")
REMINDER_TIMER = "voice:openplus-reminder"


class Announcements:
    """Turns the schedule's mode changes into spoken announcements through `speak`."""

    def __init__(
        self,
        settings: VoiceSettings,
        timers: ClockTimers,
        speak: Callable[[DoorMessage], None],
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._timers = timers
        self._speak = speak
        self._clock = clock
        self._lock = threading.Lock()
        self._mode: DoorMode | None = None
        self._generation = 0  # bumped on every mode report; an older reminder finds itself stale

    def mode_now(self, now: ModeNow) -> None:
        """The switcher's report (on the timers' thread or the caller's): speak and replan."""
        with self._lock:
            previous, self._mode = self._mode, now.mode
            self._generation += 1
            self._timers.remove(REMINDER_TIMER)
            if now.mode is DoorMode.OPENPLUS:
                if (
                    previous is not None
                    and previous is not DoorMode.OPENPLUS
                    and self._settings.announce_openplus_start
                ):
                    self._speak(OPENPLUS_START)
                self._plan_reminder(now, self._clock())
            elif previous is DoorMode.OPENPLUS and now.mode.is_closed and self._settings.announce_closed:
                self._speak(CLOSED)

    def _plan_reminder(self, stretch: ModeNow, after: datetime) -> None:
        every = timedelta(minutes=self._settings.repeat_minutes)
        if not every:
            return
        start = stretch.since or after
        due = start + every * (int((after - start) / every) + 1)
        if stretch.until is not None and due >= stretch.until:
            return  # the closing warnings and the closed announcement take over
        self._timers.add(REMINDER_TIMER, due, self._remind, self._generation, stretch)

    def _remind(self, generation: int, stretch: ModeNow) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._speak(OPENPLUS_REMINDER)
            self._plan_reminder(stretch, self._clock())


def closing_command(command: str, *, voice_on: bool) -> Callable[[int], None] | None:
    """`door.closing_announcement_command` as a function of the minutes left, or None when
    there is none or the voice ([voice]) speaks the closing warnings itself."""
    if not command:
        return None
    if voice_on:
        log.warning(
            "door.closing_announcement_command is not run: [voice] speaks the closing "
            "warnings itself (sounds closing_<minutes>.wav); remove the command"
        )
        return None

    def play(minutes: int) -> None:
        args = [part.replace("{minutes}", str(minutes)) for part in shlex.split(command)]
        try:
            subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except OSError as exc:
            log.warning("closing announcement failed: %s", exc)

    return play


def queued_closing_command(
    command: str, voice_on: bool, post: Callable[[Callable[[int], None], int], None]
) -> Callable[[int], None] | None:
    """The closing announcement command, started from the observer thread (`post`: a fork can
    take milliseconds, and the door loop must not spend them) and never waited for."""
    play = closing_command(command, voice_on=voice_on)
    return None if play is None else (lambda minutes: post(play, minutes))
