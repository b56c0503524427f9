"""One branch door, wired: devices -> door loop <- schedule, plus the daily retention job.

`serve` (real pins) and `simulate` (mock pins and pseudo-terminals) both build this; the only
difference is the pin factory and the serial port paths in the settings.
"""
from __future__ import annotations

import logging
import shlex
import subprocess
from datetime import datetime, time, timedelta
from typing import Callable

from gpiozero.pins import Factory

from controller.authorizer import Authorizer
from controller.clock import BRANCH_TZ, Clock, to_local, to_utc, utc_now
from controller.config import Settings
from controller.door import (ClosingWarning, Door, DoorContactChanged, DoorOutputs, DoorSnapshot,
                             ExitRequest, ModeChanged, RemoteUnlock)
from controller.door_loop import DoorLoop
from controller.events import Event, EventType
from controller.footage import CameraEventLog, FootageService
from controller.hardware import DoorHardware, build_hardware
from controller.messages import DoorMessage
from controller.mode_switcher import ModeSwitcher
from controller.modes import DoorMode
from controller.runtime import Runtime
from controller.schedule import ModeNow, Schedule
from controller.state_file import STATE_FILE, StateFile
from controller.timers import ClockTimers

log = logging.getLogger(__name__)

RETENTION_TIMER = "retention"
# Daily at 04:15 branch time: outside 02:00-03:00, so DST neither skips nor doubles it.
RETENTION_AT = time(4, 15)


def next_daily_run(now: datetime, at: time) -> datetime:
    """The first branch-local `at` after `now`, as UTC (only for times outside the DST hour)."""
    local = to_local(now)
    run = datetime.combine(local.date(), at, tzinfo=BRANCH_TZ)
    if run <= local:
        run = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=BRANCH_TZ)
    return to_utc(run)


class BranchService:
    """Starts and stops everything one door needs; stop() always ends with the relay locked."""

    def __init__(
        self, settings: Settings, schedule: Schedule, *, pin_factory: Factory | None,
        clock: Clock = utc_now, mode_override: DoorMode | None = None,
        on_message: Callable[[DoorMessage], None] | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = Runtime.open(settings, clock=clock)
        self._clock = clock
        self._mode_override = mode_override
        self._on_message = on_message
        self.state_file = StateFile(settings.data_dir / STATE_FILE)
        self._snapshot: DoorSnapshot | None = None
        self.listeners: list[Callable[[DoorSnapshot], None]] = []
        self.hardware: DoorHardware = build_hardware(settings.hardware, pin_factory)
        self.footage = FootageService(
            settings.camera, settings.camera.footage_dir or settings.data_dir / "footage",
            self.runtime.connection, settings.branch.door, clock,
        )
        self._door_conn = self.runtime.connection()  # used by the door loop thread only
        events = CameraEventLog(self._door_conn, self.footage)  # one non-blocking put per clip
        hw = self.hardware
        self.door = Door(
            Authorizer(self.runtime.members(self._door_conn), events, self.runtime.hasher,
                       settings.access, settings.branch.door),
            DoorOutputs(relay=hw.relay, signals=hw.indicator, show=self._show, lights=hw.lights,
                        alarm=hw.alarm, announce=self._announcer()),
            events, settings.door, clock, settings.branch.door, on_change=self._changed,
        )
        self.loop = DoorLoop(self.door, clock)
        self.timers = ClockTimers(clock)  # the schedule runs on the same clock as the door
        self.switcher = ModeSwitcher(
            schedule, self._mode_now, clock=clock, timers=self.timers,
            closing_warning_minutes=settings.door.closing_warning_minutes,
            on_closing_warning=lambda minutes: self.loop.submit(ClosingWarning(minutes)),
        )

    # --- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        hw = self.hardware
        self.door.assume_contact(hw.contact.is_open)
        hw.contact.on_opened = lambda: self.loop.submit(DoorContactChanged(True))
        hw.contact.on_closed = lambda: self.loop.submit(DoorContactChanged(False))
        hw.rex.on_pressed = lambda: self.loop.submit(ExitRequest())
        self._record(EventType.SERVICE, "started")
        self.footage.start()
        self.loop.start()
        for reader in hw.readers:
            reader.start(self.loop.submit)
        if self._mode_override is None:
            self.switcher.start()
        else:
            self.loop.submit(ModeChanged(self._mode_override, "set by hand"))
        self._plan_retention()
        self.timers.start()

    def stop(self) -> None:
        """Stop inputs first, then the loop (which locks), then release the pins (locked)."""
        try:
            for reader in self.hardware.readers:
                reader.close()
            self.switcher.stop()
            self.timers.stop()
        finally:
            self.loop.stop()
            self.hardware.close()
            self.footage.stop()
            self._record(EventType.SERVICE, "stopped")
            self._door_conn.close()

    def wait_readers_connected(self, timeout: float) -> bool:
        """True once every serial-type reader has its port open (input sent earlier is lost)."""
        return all(reader.wait_connected(timeout) for reader in self.hardware.readers
                   if hasattr(reader, "wait_connected"))

    # --- what the API and the simulator call ----------------------------------------------------
    def snapshot(self) -> DoorSnapshot | None:
        return self._snapshot

    def remote_unlock(self, actor: str) -> None:
        self.loop.submit(RemoteUnlock(actor))

    def schedule_changed(self, schedule: Schedule) -> None:
        """A saved schedule takes over at once, also from a mode set by hand."""
        self._mode_override = None
        self.switcher.replace_schedule(schedule)

    def set_mode(self, mode: DoorMode) -> None:
        """Force a mode by hand (the simulator's `mode` command); the schedule stops steering."""
        self._mode_override = mode
        self.switcher.stop()
        self.loop.submit(ModeChanged(mode, "set by hand"))

    def apply_retention(self) -> None:
        """The daily job: events past their retention, then footage past its own."""
        try:
            self.purge_events()
            self.footage.apply_retention(self._clock())
        finally:
            self._plan_retention()

    def _plan_retention(self) -> None:
        self.timers.add(RETENTION_TIMER, next_daily_run(self._clock(), RETENTION_AT),
                        self.apply_retention)

    def purge_events(self) -> int:
        cutoff = self._clock() - timedelta(days=self.settings.events.retention_days)
        conn = self.runtime.connection()
        try:
            removed = self.runtime.events(conn).purge(cutoff)
        finally:
            conn.close()
        log.info("retention: %d event(s) deleted", removed)
        return removed

    # --- callbacks ---------------------------------------------------------------------------
    def _mode_now(self, mode: ModeNow) -> None:
        self.loop.submit(ModeChanged(mode.mode, mode.cause))

    def _changed(self, snapshot: DoorSnapshot) -> None:
        if self._snapshot is None or self._snapshot.mode is not snapshot.mode:
            self.footage.set_mode(snapshot.mode)  # the camera records in Open+ only
        self._snapshot = snapshot
        self.state_file.write(snapshot)
        for listener in self.listeners:
            listener(snapshot)

    def _show(self, message: DoorMessage) -> None:
        log.info("door says: %s", message)
        if self._on_message is not None:
            self._on_message(message)

    def _announcer(self):
        command = self.settings.door.closing_announcement_command
        if not command:
            return None

        def announce(minutes: int) -> None:
            args = [part.replace("{minutes}", str(minutes)) for part in shlex.split(command)]
            try:  # never waited for: the door loop must not block on a speaker
                subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            except OSError as exc:
                log.warning("closing announcement failed: %s", exc)

        return announce

    def _record(self, kind: EventType, what: str) -> None:
        conn = self.runtime.connection()
        try:
            self.runtime.events(conn).record(Event(type=kind, at=self._clock(),
                                                   door=self.settings.branch.door, reason=what))
        finally:
            conn.close()
