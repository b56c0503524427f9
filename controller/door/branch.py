"""One branch door, wired: devices -> door loop <- schedule, plus the daily retention job.

`serve` (real pins) and `simulate` (mock pins and pseudo-terminals) both build this; the only
difference is the pin factory and the serial port paths in the settings.

Threads, and what each may wait on: the door loop waits only on its inputs; events and PIN
counts go to the EventWriter's thread, snapshots and door messages to the ObserverQueue's
thread (state file, page listeners, camera mode, console), schedule edges come from the
ClockTimers' thread as queued inputs. Nothing the door thread calls touches a lock held by
the database, the web side or an observer.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from gpiozero.pins import Factory

from controller.config.settings import Settings
from controller.domain.clock import Clock, Monotonic, monotonic, utc_now
from controller.domain.events import Event, EventType, OutputFaultReason
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule, all_day_schedule
from controller.domain.timeline import ModeNow
from controller.door.branch_door import (
    build_door,
    build_door_outputs,
    build_lcd,
    build_outputs_runner,
    build_screen,
    build_voice,
    display_listeners,
)
from controller.door.branch_services import (
    build_alerts,
    build_announcements,
    build_authorizer,
    build_lockouts,
    open_lms,
)
from controller.door.camera_counting import open_camera_counting
from controller.door.daily_jobs import DailyJobs
from controller.door.event_writer import SPILL_FILE, EventWriter
from controller.door.hardware import DoorHardware, build_hardware
from controller.door.loop import DoorLoop
from controller.door.observers import ObserverQueue
from controller.door.ports import ClosingWarning, DoorSnapshot, ModeChanged, Phase, RemoteUnlock
from controller.door.screen.server import DoorScreen
from controller.door.state_file import STATE_FILE, StateFile
from controller.door.switcher import ModeSwitcher
from controller.door.timers import ClockTimers
from controller.services.fleet.subscriber import open_branch_fleet
from controller.services.footage_plan import CLIP_EVENTS
from controller.services.metrics import DoorMetrics, DoorParts
from controller.services.runtime import Runtime
from controller.services.statistics_people import PeopleTally
from controller.services.use_cases import footage_service
from drivers.base import ConnectingReader, InputEvent

log = logging.getLogger(__name__)

GIL_SWITCH_SECONDS = 0.0005
# A schedule reload (read, parse, recompute) is Python work in the door process and shares the GIL
# with the door loop, so the door link and the fleet wait for a moment between members, at most
# this long: a door busy for longer still gets its new schedule.
BETWEEN_MEMBERS_WAIT_SECONDS = 1.0


class BranchService:
    """Starts and stops everything one door needs; stop() always ends with the relay locked."""

    def __init__(
        self,
        settings: Settings,
        schedule: Schedule,
        *,
        pin_factory: Factory | None,
        clock: Clock = utc_now,
        mode_override: DoorMode | None = None,
        on_message: Callable[[DoorMessage], None] | None = None,
        monotonic: Monotonic = monotonic,
        on_turn: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = Runtime.open(settings, clock=clock)
        self._clock = clock
        self._mode_override = mode_override
        self._on_message = on_message
        self.state_file = StateFile(settings.data_dir / STATE_FILE)
        self._snapshot: DoorSnapshot | None = None
        self._no_member_in_hand = threading.Event()  # set by the door thread while idle
        self._no_member_in_hand.set()
        self.hardware: DoorHardware = build_hardware(settings.hardware, pin_factory)
        self.footage = footage_service(self.runtime)  # start() starts it: this one records
        self.counters = DoorMetrics(monotonic)  # for /metrics and health, over the door link
        self.writer = EventWriter(
            self.runtime.db,
            settings.data_dir / SPILL_FILE,
            on_event_written=self._event_written,
            door=settings.branch.door,  # for its own events (a spill file set aside)
            clock=clock,
        )
        self.observers = ObserverQueue()
        self.signal_queue = ObserverQueue(name="door-signals")  # LEDs and buzzer
        self.lcd = build_lcd(settings, self._output_fault)
        self.voice = build_voice(settings, self._output_fault, clock)
        self.screen: DoorScreen | None = build_screen(settings, clock)  # None after a failed start
        self.listeners: list[Callable[[DoorSnapshot], None]] = display_listeners(self.lcd, self.screen)
        self._observed_mode: DoorMode | None = None  # the observer thread's own copy
        self._door_conn = self.runtime.connection()  # the door loop thread's, for reads only
        lockouts = build_lockouts(settings, self.writer, self._door_conn)
        # The library system's answers go to the door loop (built below) like any input.
        self.lms = open_lms(
            self.runtime, lambda answer: self.loop.submit(answer), self.writer, settings, self.counters
        )
        self.authorizer = build_authorizer(
            self.runtime, self._door_conn, settings, self.writer, self.counters, lockouts, self.lms, clock
        )
        self.timers = ClockTimers(clock)  # the schedule runs on the same clock as the door
        # The alarm starts held off: the door's resume_count below says whether someone is inside.
        self.outputs = build_outputs_runner(
            settings, schedule, mode_override, clock, self.timers, pin_factory
        )
        door_outputs = build_door_outputs(
            settings,
            self.hardware,
            self.signal_queue,
            self.observers,
            self._show,
            self.outputs,
            voice_on=self.voice is not None,
        )
        self.door = build_door(
            settings, self.authorizer, door_outputs, self.writer, clock, monotonic, self._changed
        )
        self.door.resume_count(self.state_file.saved_count(), schedule, mode_override)  # occupancy
        self.loop = DoorLoop(
            self.door, monotonic, on_turn=on_turn, realtime_priority=settings.door.realtime_priority
        )
        self.tally = PeopleTally(self.runtime, settings.branch.door, self.loop.submit)  # and statistics
        self.camera_counting = open_camera_counting(settings, self.tally.submit, self.writer.record, clock)
        self.daily = DailyJobs(settings, self.runtime, self.footage, self.timers, clock)
        self.announcements = build_announcements(
            settings, self.timers, self.voice.say if self.voice is not None else None, clock
        )
        self.alerts = build_alerts(
            self.runtime,
            settings,
            clock,
            self.counters,
            mode_now=lambda: self._snapshot.mode if self._snapshot is not None else None,
            loop_age=self.loop.turn_age,
            record=self.writer.record,
        )
        # [fleet] (off by default): events, state and heartbeat to the broker, on its own thread;
        # the console's signed commands applied on another (services/fleet/subscriber.py).
        self.fleet = open_branch_fleet(self.runtime, settings.fleet, clock, settings.branch.door, self)
        self.switcher = ModeSwitcher(
            schedule,
            self._mode_now,
            clock=clock,
            timers=self.timers,
            closing_warning_minutes=settings.door.closing_warning_minutes,
            on_closing_warning=self._closing_warning,
        )

    # --- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        # Python hands the GIL to a waiting thread only every 5 ms by default: a busy thread of
        # this process (a schedule recompute for the door link) then delays each step of the
        # door loop by up to 5 ms. 0.5 ms slices cut that to a tenth (bench/door_under_load.py).
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        hw = self.hardware
        self.door.assume_contact(hw.contact.is_open)
        hw.connect_inputs(self.tally.submit, self._clock)  # crossings also into the statistics
        self.writer.start()
        self.observers.start()
        self.signal_queue.start()
        for output in (self.lcd, self.voice, self.tally):
            if output is not None:
                output.start()
        self._start_screen()
        self._record(EventType.SERVICE, "started")
        if self.alerts is not None:
            self.alerts.start()
        if self.fleet is not None:
            self.fleet.start()
        self.footage.start()
        self.loop.start()
        if self.lms is not None:
            self.lms.start()  # connects in the background; the door never waits for it
        for reader in hw.readers:
            reader.start(self._reader_input)
        if self._mode_override is None:
            self.switcher.start()
        else:
            self.loop.submit(ModeChanged(self._mode_override, "set by hand"))
        self.outputs.start()  # [[outputs]]: each in its state now, switches planned
        if self.camera_counting is not None:  # after the mode: its first crossing finds it set
            self.camera_counting.start()
        self.daily.plan()
        self.timers.start()

    def stop(self) -> None:
        """Lock, stop inputs, then the loop (which locks again), then release the pins (locked);
        only then the writer (what it cannot write in time is spilled), observers and camera."""
        self.door.lock_now()
        try:
            self.hardware.close_readers()
            self.switcher.stop()
            self.timers.stop(timeout=0.5)
        finally:
            if self.alerts is not None:  # first: a stopped loop is not a late one
                self.alerts.stop(timeout=0.5)  # what is not sent stays queued for the next start
            if self.fleet is not None:
                self.fleet.stop(timeout=1.5)  # 'offline'; the unsent stay in the outbox
            self.loop.stop(timeout=1.0)
            if self.screen is not None:
                self.screen.stop()  # the page says "Storing" at once
            if self.lms is not None:
                self.lms.close()
            self.signal_queue.stop(timeout=0.3)
            for output in (self.lcd, self.voice, self.camera_counting, self.tally):
                if output is not None:
                    output.stop(timeout=0.3)
            self.hardware.close()
            self.outputs.stop()
            self._record(EventType.SERVICE, "stopped")
            self.writer.stop(timeout=1.0)
            self.observers.stop(timeout=0.5)
            self.footage.stop()
            self._door_conn.close()

    def wait_readers_connected(self, timeout: float) -> bool:
        """True once every serial-type reader has its port open (input sent earlier is lost)."""
        return all(
            reader.wait_connected(timeout)
            for reader in self.hardware.readers
            if isinstance(reader, ConnectingReader)
        )

    # --- what the API and the simulator call ----------------------------------------------------
    def snapshot(self) -> DoorSnapshot | None:
        return self._snapshot

    def metrics_report(self) -> dict[str, Any]:
        """The door's counters and gauges for /metrics and /api/v1/health (the door link)."""
        return self.counters.report(
            DoorParts(
                readers=self.hardware.readers,
                writer=self.writer,
                footage=self.footage,
                observers=self.observers,
                lms_enabled=self.lms is not None,
            )
        )

    def remote_unlock(self, actor: str) -> None:
        self.loop.submit(RemoteUnlock(actor))

    def between_members(self, timeout: float = BETWEEN_MEMBERS_WAIT_SECONDS) -> bool:
        """Wait (on the caller's thread) until the door has no card, PIN or pulse in hand, at
        most `timeout` s; True if it has none. The door link and the fleet do a schedule
        reload's Python work then, so it seldom shares the GIL with a member's entry."""
        return self._no_member_in_hand.wait(timeout)

    def schedule_changed(self, schedule: Schedule) -> None:
        """A saved schedule takes over at once, also from a mode set by hand."""
        self._mode_override = None
        self.switcher.replace_schedule(schedule)
        self.outputs.replace_schedule(schedule)

    def set_mode(self, mode: DoorMode) -> None:
        """Force a mode by hand (the simulator's `mode` command); the schedule stops steering."""
        self._mode_override = mode
        self.switcher.stop()
        self.loop.submit(ModeChanged(mode, "set by hand"))
        self.outputs.replace_schedule(all_day_schedule(mode))

    def apply_retention(self) -> None:
        """The daily retention job, now (tests; the timers run it at 04:15)."""
        self.daily.apply_retention()

    def purge_events(self) -> int:
        return self.daily.purge_events()

    # --- callbacks ---------------------------------------------------------------------------
    def _mode_now(self, mode: ModeNow) -> None:
        self.loop.submit(ModeChanged(mode.mode, str(mode.cause)))  # the English the event log keeps
        if self.announcements is not None:
            self.announcements.mode_now(mode)  # Open+ begins / reminders / closed, spoken

    def _start_screen(self) -> None:
        """The door screen's server; a port that cannot be bound costs the screen, never the door."""
        if self.screen is not None and not self.screen.start_or_log():
            self.screen = None

    def _closing_warning(self, minutes: int) -> None:
        """On the timers' thread: the door says it; the screen counts down to the end."""
        self.loop.submit(ClosingWarning(minutes))
        if self.screen is not None:
            self.observers.post(self.screen.feed.closing_in, minutes)

    def _changed(self, snapshot: DoorSnapshot) -> None:
        """On the door thread: keep the snapshot, hand the rest to the observer thread."""
        self._snapshot = snapshot
        if snapshot.phase is Phase.IDLE:
            self._no_member_in_hand.set()
        else:
            self._no_member_in_hand.clear()
        self.observers.post(self._observe, snapshot)

    def _observe(self, snapshot: DoorSnapshot) -> None:
        """On the observer thread: each observer on its own, so one failing stops no other."""
        if self._observed_mode is not snapshot.mode:
            self._observed_mode = snapshot.mode
            self.observers.post(self.footage.set_mode, snapshot.mode)  # Open+ only records
        self.observers.post(self.state_file.write, snapshot)
        for listener in list(self.listeners):
            self.observers.post(listener, snapshot)

    def _show(self, message: DoorMessage) -> None:
        self.observers.post(self._said, message)

    def _said(self, message: DoorMessage) -> None:
        log.info("door says: %s", message)
        if self.voice is not None:
            self.voice.say(message)  # queued: the voice's thread plays it
        if self._on_message is not None:
            self._on_message(message)

    def _reader_input(self, item: InputEvent) -> None:
        """A reader's card or key (on its thread): stamped for the decision latency, queued."""
        self.counters.input_arrived()
        self.loop.submit(item)

    def _event_written(self, event_id: int, event: Event) -> None:
        """On the writer thread, once an event has its id: counted; entries and alarms get a clip."""
        self.counters.event_written(event)
        if event.type in CLIP_EVENTS:
            self.footage.notify_event(event_id, event.at, event.type)
        if self.alerts is not None:
            self.alerts.wake()  # the alert watch reads the new events on its own thread
        if self.fleet is not None:
            self.fleet.wake()

    def _output_fault(self, reason: OutputFaultReason, detail: str) -> None:
        """The LCD or the voice failed (their own threads): an event; the door goes on."""
        self.writer.record(
            Event(
                type=EventType.OUTPUT_FAULT,
                at=self._clock(),
                door=self.settings.branch.door,
                reason=reason.value,
                detail=detail,
            )
        )

    def _record(self, kind: EventType, what: str) -> None:
        self.writer.record(Event(type=kind, at=self._clock(), door=self.settings.branch.door, reason=what))
