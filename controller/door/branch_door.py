"""The door's own side of BranchService, built piece by piece: what it shows, says and switches
(LCD, voice, door screen, [[outputs]], relay and signals) and the Door over them.

Each builder is its own function so that BranchService.__init__ reads as a list of parts and a
new part does not grow that module past its limit. None of them starts a thread.
"""

from __future__ import annotations

from collections.abc import Callable

from gpiozero.pins import Factory

from controller.config.counter import people_counter
from controller.config.settings import Settings
from controller.domain.clock import Clock, Monotonic
from controller.domain.events import EventSink
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule, all_day_schedule
from controller.door.announcements import queued_closing_command
from controller.door.hardware import DoorHardware
from controller.door.lcd_output import LcdOutput
from controller.door.machine import Door
from controller.door.observers import ObserverQueue, QueuedSignals
from controller.door.outputs_runner import OutputsRunner
from controller.door.ports import DoorOutputs, DoorSnapshot
from controller.door.screen.feed import ScreenFeed
from controller.door.screen.server import DoorScreen
from controller.door.timers import ClockTimers
from controller.door.voice import FaultSink, Voice
from controller.services.access import Authorizer


def build_lcd(settings: Settings, on_fault: FaultSink) -> LcdOutput | None:
    """The character LCD ([display.lcd]) on a thread of its own, or None: optional hardware."""
    return (
        LcdOutput.from_settings(settings.display.lcd, on_fault) if settings.display.lcd is not None else None
    )


def build_voice(settings: Settings, on_fault: FaultSink, clock: Clock) -> Voice | None:
    """The voice ([voice]) on a thread of its own, or None: the door and the announcements share it."""
    return Voice.from_settings(settings.voice, on_fault, clock) if settings.voice.enabled else None


def build_screen(settings: Settings, clock: Clock) -> DoorScreen | None:
    """The door screen page ([screen]), or None: a server of its own that may fail to bind alone."""
    if not settings.screen.enabled:
        return None
    return DoorScreen(settings.screen, ScreenFeed(settings.door.unlock_seconds, clock))


def display_listeners(
    lcd: LcdOutput | None, screen: DoorScreen | None
) -> list[Callable[[DoorSnapshot], None]]:
    """The snapshot listeners the displays bring (the LCD first); others append to the list later."""
    listeners: list[Callable[[DoorSnapshot], None]] = []
    if lcd is not None:
        listeners.append(lcd.update)
    if screen is not None:
        listeners.append(screen.feed.update)
    return listeners


def build_outputs_runner(
    settings: Settings,
    schedule: Schedule,
    mode_override: DoorMode | None,
    clock: Clock,
    timers: ClockTimers,
    pin_factory: Factory | None,
) -> OutputsRunner:
    """[[outputs]] with the alarm held off until the Door's resume_count says whether someone
    is inside; a mode set by hand steers them too (the lights and alarm included)."""
    steering = schedule if mode_override is None else all_day_schedule(mode_override)
    return OutputsRunner.for_branch(settings, steering, clock, timers, pin_factory, alarm_held=True)


def build_door_outputs(
    settings: Settings,
    hardware: DoorHardware,
    signal_queue: ObserverQueue,
    observers: ObserverQueue,
    show: Callable[[DoorMessage], None],
    outputs: OutputsRunner,
    voice_on: bool,
) -> DoorOutputs:
    """What the Door drives, each either quick or queued to another thread, so the door never waits."""
    return DoorOutputs(
        relay=hardware.relay,
        signals=QueuedSignals(hardware.indicator, signal_queue),
        show=show,
        lights=outputs.door_line("lights"),
        alarm=outputs.door_line("alarm"),
        announce=queued_closing_command(settings.door.closing_announcement_command, voice_on, observers.post),
        operator=hardware.operator,
    )


def build_door(
    settings: Settings,
    authorizer: Authorizer,
    outputs: DoorOutputs,
    events: EventSink,
    clock: Clock,
    monotonic: Monotonic,
    on_change: Callable[[DoorSnapshot], None],
) -> Door:
    """The door's state machine with the people counter its settings choose (it does not resume a
    count: the caller does that once it has the saved one)."""
    return Door(
        authorizer,
        outputs,
        events,
        settings.door,
        clock,
        settings.branch.door,
        on_change=on_change,
        monotonic=monotonic,
        counter=people_counter(settings.counter, settings.hardware.counter),
    )
