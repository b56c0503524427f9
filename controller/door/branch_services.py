"""The services around one door, built for BranchService: who may enter (PIN lockouts, the
library system, the authorizer), what is announced, and who is alerted.

Each builder is its own function so that BranchService.__init__ reads as a list of parts and a
new part does not grow that module past its limit. None of them starts a thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta

from controller.config.settings import Settings
from controller.domain.clock import Clock
from controller.domain.events import Event, EventSink
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.door.announcements import Announcements
from controller.door.event_writer import EventWriter
from controller.door.timers import ClockTimers
from controller.services.access import Authorizer
from controller.services.alerts.service import AlertService
from controller.services.lms import LmsAnswer
from controller.services.lms_access import LmsGate, open_lms_gate
from controller.services.lockouts import PinLockouts
from controller.services.metrics import DoorMetrics
from controller.services.runtime import Runtime
from controller.store.pin_failures import load_pin_failures


def build_lockouts(settings: Settings, writer: EventWriter, conn: sqlite3.Connection) -> PinLockouts:
    """The wrong-PIN counts, loaded once here so the door thread never reads them from the
    database or the disk; new counts go to `writer`. The counts the last run spilled (still in
    the writer's files, written back once its thread runs) are newer than the stored ones, so
    they win at once, and a run of wrong PINs and lockouts goes on from them."""
    access = settings.access
    return PinLockouts(
        access.max_wrong_pins,
        timedelta(minutes=access.lockout_minutes),
        writer.save,
        load_pin_failures(conn),
        writer.spilled_pin_failures(),
    )


def open_lms(
    runtime: Runtime,
    deliver: Callable[[LmsAnswer], None],
    events: EventSink,
    settings: Settings,
    counters: DoorMetrics,
) -> LmsGate | None:
    """The library system's gate, its check times counted, or None when the branch has no LMS link."""
    lms = open_lms_gate(runtime, deliver, events, settings.branch.door)
    if lms is not None:
        lms.link.on_checked = counters.lms_checked
    return lms


def build_authorizer(
    runtime: Runtime,
    conn: sqlite3.Connection,
    settings: Settings,
    events: EventSink,
    counters: DoorMetrics,
    lockouts: PinLockouts,
    lms: LmsGate | None,
    clock: Clock,
) -> Authorizer:
    """The one authorizer every input goes through, its decisions timed, its throttle resumed."""
    authorizer = Authorizer(
        runtime.members(conn),
        counters.decisions(events),
        runtime.hasher,
        settings.access,
        settings.branch.door,
        lockouts,
        lms=(lms.link, lms.decider) if lms is not None else None,
    )
    authorizer.resume_throttle(clock())
    return authorizer


def build_announcements(
    settings: Settings,
    timers: ClockTimers,
    say: Callable[[DoorMessage], None] | None,
    clock: Clock,
) -> Announcements | None:
    """The spoken Open+ announcements on the schedule's timers, or None without a voice to say them."""
    return Announcements(settings.voice, timers, say, clock) if say is not None else None


def build_alerts(
    runtime: Runtime,
    settings: Settings,
    clock: Clock,
    counters: DoorMetrics,
    mode_now: Callable[[], DoorMode | None],
    loop_age: Callable[[], float],
    record: Callable[[Event], object],
) -> AlertService | None:
    """[alerts], or None: its own threads read new events from the database and send (a flag is
    all the writer sets); it also logs a door loop that stops turning (door_loop_late)."""
    if not settings.alerts.enabled:
        return None
    alerts = AlertService(
        runtime.db,
        settings.alerts,
        clock,
        settings.branch.door,
        mode_now=mode_now,
        loop_age=loop_age,
        record=record,
    )
    counters.gauges.set(
        "alert_queue_length",
        alerts.queue_length,
        "Alert deliveries waiting to be sent (every channel)",
    )
    return alerts
