"""The door state machine: input events in, lock/indicator/message commands out; owns fail-secure.

idle -> card read -> waiting for PIN (`*` clears, `#` submits, a quiet timeout returns to idle)
-> decision -> unlock pulse (ends early when the door opens and closes again) -> idle.
With a library-system link the decision may be a question first: the door shows "one moment",
the answer comes back as an input (LmsAnswer), and a monotonic deadline a little past the
LMS's own timeout hands the attempt to the offline policy if it has not.
Around that: a door that opens with no grant and no exit request is forced; one open longer
than the limit is held open; an exit request (REX) never needs a card. Every handler runs on
the door loop's one thread; any exception in it locks the relay (see DoorLoop).

Two rules keep the door on time. Every deadline is on the monotonic clock (a wall-clock step
must not stretch a pulse); wall time only stamps events. And the door acts before it records:
the relay moves first, events go to a sink that never blocks (the EventWriter's queue), and
snapshots go to observers that cannot fail the door (`on_change` must not block either).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from controller.config.counter import PeopleCounter
from controller.config.settings import DoorSettings
from controller.domain import messages
from controller.domain.clock import Clock, Monotonic, monotonic
from controller.domain.events import DoorAlarm, Event, EventSink, EventType
from controller.domain.messages import PROMPT_CARD, DoorMessage, closing_message
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.door.entry import EntryFlow
from controller.door.leaf import DoorLeaf
from controller.door.occupancy import Counting
from controller.door.ports import (
    ClosingWarning,
    DoorContactChanged,
    DoorInput,
    DoorOutputs,
    DoorSnapshot,
    ExitRequest,
    HelpRequested,
    ModeChanged,
    OpenButtonPressed,
    PersonCrossed,
    Phase,
    RemoteUnlock,
)
from controller.door.state_file import NoSavedCount, SavedCount
from controller.services.access import Authorizer
from controller.services.lms import LmsAnswer, LmsQuestion
from drivers.base import CardRead, KeyPress, ReaderFault

log = logging.getLogger(__name__)


class Door(EntryFlow):
    """Runs one door; not thread-safe by design: feed it from one loop thread only."""

    def __init__(
        self,
        authorizer: Authorizer,
        outputs: DoorOutputs,
        events: EventSink,
        settings: DoorSettings,
        clock: Clock,
        door_name: str,
        on_change: Callable[[DoorSnapshot], None] | None = None,
        monotonic: Monotonic = monotonic,
        counter: PeopleCounter | None = None,
    ) -> None:
        self._auth = authorizer
        self._out = outputs
        self._events = events
        self._cfg = settings
        self._clock = clock
        self._mono = monotonic
        self._name = door_name
        self._on_change = on_change
        self.mode = DoorMode.CLOSED
        self.phase = Phase.IDLE
        self._card: CardRead | None = None
        self._keys = ""
        # Deadlines and durations: monotonic seconds (self._mono), never wall time.
        self._pin_deadline: float | None = None
        self._question: LmsQuestion | None = None  # the attempt the LMS is checking
        self._lms_deadline: float | None = None
        self._unlock_until: float | None = None
        self._opened_in_pulse = False
        self._pulse_more_time = False  # the pulse under way is a 'more time' member's
        self._operator_until: float | None = None  # the door operator's trigger is on until
        self._leaf = DoorLeaf(settings, monotonic)  # open or shut; forced and held open
        self._message = PROMPT_CARD
        self._message_until: float | None = None
        self._counting = Counting(
            counter,
            settings,
            outputs,
            door_name,
            clock,
            monotonic,  # people
            self._events.record,
            lambda message: self._say(message, hold=True),
        )
        self._out.relay.lock()
        self._publish()

    # --- entry points ----------------------------------------------------------------------
    def handle(self, item: DoorInput) -> None:
        """Act on one input, then on any deadline that has passed."""
        now = self._clock()
        if isinstance(item, CardRead):
            self._card_read(item, now)
        elif isinstance(item, KeyPress):
            self._key(item, now)
        elif isinstance(item, DoorContactChanged):
            self._contact(item.is_open, now)
        elif isinstance(item, ExitRequest):
            self._exit_request(now)
        elif isinstance(item, OpenButtonPressed):
            self._exit_request(now, operate=True)
        elif isinstance(item, HelpRequested):
            self._help_requested(now)
        elif isinstance(item, ModeChanged):
            self._mode_changed(item, now)
        elif isinstance(item, RemoteUnlock):
            self._pulse()
            self._counting.granted(self.mode, card=None)
            self._log(EventType.REMOTE_UNLOCK, now, actor=item.actor)
        elif isinstance(item, LmsAnswer):
            self._lms_answered(item, now)
        elif isinstance(item, PersonCrossed):
            self._counting.crossed(item)
        elif isinstance(item, ClosingWarning):
            self._closing_warning(item.minutes, now)
        elif isinstance(item, ReaderFault):
            self._log(
                EventType.READER_FAULT,
                now,
                reason=item.kind,
                detail=f"reader={item.reader} {item.detail}".strip(),
            )
        self.tick()

    def tick(self) -> None:
        """Handle every deadline that has passed: PIN timeout, end of pulse, held open."""
        t = self._mono()
        if self._unlock_until is not None and t >= self._unlock_until:
            self._end_pulse()  # the lock first
        if self._operator_until is not None and t >= self._operator_until:
            self._stop_operator()
        if self._lms_deadline is not None and t >= self._lms_deadline:
            self._lms_answered(None, self._clock())  # too late: the offline policy decides
        if self._pin_deadline is not None and t >= self._pin_deadline:
            self._reset_entry()
            self._say(messages.TIMED_OUT)
        if not self._door_free and self._leaf.held_open_now(t):
            self._raise_alarm(DoorAlarm.HELD_OPEN, self._clock(), f"open for {self._leaf.held_limit:g} s")
        if self._message_until is not None and t >= self._message_until:
            self._message, self._message_until = PROMPT_CARD, None
        self._counting.tick(t, shut=not self._leaf.is_open and self._unlock_until is None)
        self._publish()

    def next_deadline(self) -> float | None:
        """When tick() next has something to do, on the monotonic clock (the loop waits until
        then, or for the next input). A free door has no held-open limit: left in, it would
        stay due and the loop would never wait."""
        held = None if self._door_free else self._leaf.held_deadline()
        times = [
            t
            for t in (
                self._pin_deadline,
                self._unlock_until,
                self._operator_until,
                held,
                self._message_until,
                self._lms_deadline,
                self._counting.deadline(),
            )
            if t is not None
        ]
        return min(times) if times else None

    def assume_contact(self, is_open: bool) -> None:
        """The contact's state at start-up: no event, no alarm for a door already open."""
        self._leaf.assume(is_open)

    def resume_count(
        self, saved: SavedCount | NoSavedCount, schedule: Schedule, mode_override: DoorMode | None
    ) -> None:
        """At start-up, before the loop runs: the count the state file kept, if it is still
        this mode period's (occupancy.py)."""
        self._counting.resume(saved, schedule, mode_override)
        self._publish()

    def fail_secure(self, error: BaseException) -> None:
        """Lock first, then try to tell someone; used by the loop on any unhandled error."""
        self._out.relay.lock()
        self._unlock_until = None
        self._stop_operator()
        self._reset_entry()
        self.phase = Phase.IDLE
        try:
            now = self._clock()
            self._say(messages.FAULT)
            self._log(
                EventType.SERVICE,
                now,
                reason="fail_secure",
                detail=f"{type(error).__name__} in the door loop; relay locked",
            )
            self._publish()
        except Exception:  # the relay is locked; a broken log must not hide that
            log.exception("could not record the fail-secure event")

    def lock_now(self) -> None:
        """Drive the relay locked at once; the one call safe from another thread (shutdown:
        locking can only make the door safer, and the loop's own shutdown() follows)."""
        self._out.relay.lock()

    def shutdown(self) -> None:
        self._out.relay.lock()
        self._unlock_until = None
        self._stop_operator()
        self.phase = Phase.IDLE
        self._publish()

    def snapshot(self) -> DoorSnapshot:
        return DoorSnapshot(
            mode=self.mode,
            phase=self.phase,
            relay_unlocked=self._out.relay.is_unlocked,
            door_open=self._leaf.is_open,
            alarm=self._leaf.alarm,
            message=self._message,
            pin_keys=len(self._keys),
            at=self._clock(),
            unlock_seconds_left=(
                None if self._unlock_until is None else max(0.0, self._unlock_until - self._mono())
            ),
            occupancy=self._counting.occupancy,
            count=self._counting.record(),
        )

    # --- credentials -------------------------------------------------------------------------
    # --- the lock ----------------------------------------------------------------------------
    def _pulse(self, more_time: bool = False) -> None:
        """Unlock for unlock_seconds, or for a member with `more_time` more_time_unlock_seconds,
        who also gets the longer held-open limit for this opening. A new pulse never shortens
        the one under way (an exit request while a member with more time goes in)."""
        self._out.relay.unlock()
        self.phase = Phase.UNLOCKED
        seconds = self._cfg.more_time_unlock_seconds if more_time else self._cfg.unlock_seconds
        until = self._mono() + seconds
        if self._unlock_until is None or until >= self._unlock_until:
            self._unlock_until, self._pulse_more_time = until, more_time
        self._opened_in_pulse = False
        if more_time and self._leaf.is_open:
            self._leaf.give_more_time()  # already open: this opening may last longer

    def _end_pulse(self) -> None:
        self._unlock_until = None
        self.phase = Phase.IDLE
        if not self._door_free:
            self._out.relay.lock()

    def _contact(self, is_open: bool, now: datetime) -> None:
        if is_open == self._leaf.is_open:
            return
        if is_open:
            in_pulse = self._unlock_until is not None
            if self._leaf.opened(
                granted=in_pulse or self._door_free, more_time=in_pulse and self._pulse_more_time
            ):
                self._opened_in_pulse = self._unlock_until is not None
                self._counting.door_opened(self.mode)
                self._log(EventType.DOOR_OPENED, now)
            else:
                self._raise_alarm(DoorAlarm.FORCED, now, "opened without a grant or exit request")
            return
        self._leaf.closed()
        self._log(EventType.DOOR_CLOSED, now)
        if self._unlock_until is not None and self._opened_in_pulse:
            self._end_pulse()  # in and shut: lock now, not when the pulse runs out

    def _exit_request(self, now: datetime, operate: bool = False) -> None:
        """The exit button, or (`operate`) the inside open button, which also starts the door
        operator for people who cannot push the door."""
        self._leaf.exit_requested()
        if self._cfg.rex_unlocks and not self._door_free:
            self._pulse()  # let them out first; the event follows
        if operate:
            self._operate()
        self._log(EventType.EXIT_REQUEST, now, detail="open button" if operate else None)

    # --- the door operator and the help button -----------------------------------------------
    def _operate(self) -> None:
        """Trigger the door operator, if there is one: on now, off at its deadline (tick)."""
        if self._out.operator is not None:
            self._out.operator.on()
            self._operator_until = self._mono() + self._cfg.operator_pulse_seconds

    def _stop_operator(self) -> None:
        self._operator_until = None
        if self._out.operator is not None:
            self._out.operator.off()

    def _help_requested(self, now: datetime) -> None:
        """Say help was called and record it (alerts subscribe to the event); never unlocks.
        Pressed again while that message still shows: said again, not recorded again."""
        showing = self._message == messages.HELP_REQUESTED and self._message_until is not None
        self._say(messages.HELP_REQUESTED)
        self._out.signals.beep(self._cfg.key_beep_seconds)  # heard: the press was taken
        if not showing:
            self._log(EventType.HELP_REQUESTED, now)

    def _mode_changed(self, change: ModeChanged, now: datetime) -> None:
        if change.mode is self.mode:
            return
        before, self.mode = self.mode, change.mode
        self._log(
            EventType.MODE_CHANGED,
            now,
            reason=change.mode.value,
            detail=f"from {before.value}; {change.cause}".strip("; "),
        )
        self._reset_entry()
        if self._door_free:
            self._out.relay.unlock()
        elif self._unlock_until is None:
            self._out.relay.lock()
        emptying = self._counting.mode_changed(before, self.mode)  # a closing round: not yet
        if self._out.alarm is not None and not emptying:
            (self._out.alarm.arm if self.mode.is_closed else self._out.alarm.disarm)()
        if self.mode.is_closed and self._out.lights is not None and not emptying:
            self._out.lights.off()

    def _closing_warning(self, minutes: int, now: datetime) -> None:
        self._log(
            EventType.CLOSING_WARNING, now, reason=f"{minutes} min", detail=f"Open+ ends in {minutes} minutes"
        )
        self._say(closing_message(minutes))
        self._out.signals.beep(self._cfg.alarm_beep_seconds, times=2)
        if self._out.announce is not None:
            self._out.announce(minutes)

    # --- helpers ---------------------------------------------------------------------------
    def _raise_alarm(self, alarm: DoorAlarm, now: datetime, detail: str) -> None:
        """Show the alarm in snapshots until the door closes, log its event, beep."""
        self._leaf.alarm = alarm
        self._log(alarm.event_type, now, detail=detail)
        self._out.signals.beep(self._cfg.alarm_beep_seconds, times=3)

    def _say(self, message: DoorMessage, hold: bool = False) -> None:
        self._message = message
        self._message_until = None if hold else self._mono() + self._cfg.message_seconds
        self._out.show(message)

    def _log(
        self,
        kind: EventType,
        now: datetime,
        *,
        reason: str | None = None,
        actor: str | None = None,
        detail: str | None = None,
    ) -> None:
        self._events.record(
            Event(type=kind, at=now, door=self._name, reason=reason, actor=actor, detail=detail)
        )

    def _publish(self) -> None:
        if self._on_change is not None:
            self._on_change(self.snapshot())
