"""The named building outputs ([[outputs]]) in the door process: each set at its planned switch
times on the clock's timers, and a manager's switch held until the next planned one.

The planner (controller.domain.outputs) says the state at a moment and the next switch; this
sets the pins. At start-up each pin starts in the state the schedule wants now (a restart in
the middle of an offset window is right at once, no blink), and a schedule change puts every
output in its new state at once. Callbacks run on the timers' thread or the caller's (the door
link's for a manual switch), never on the door thread; a pin write is all they do.

A manual state survives a restart of the door process, still only until its `until`: the
runner keeps the states in a small file (controller.door.manual_outputs) each time they change
(set, "auto", ended at a planned switch, moved by a schedule change), on the thread that
changed them; at start the pins are built in the state a restored switch wants, so a restart
in the middle of one does not blink the output. The door thread never takes the runner's lock,
so it never waits on that write.

The door's lights and alarm lines are outputs with a role (controller.config.outputs): their
pin is a `DoorLine`, which the runner sets as any pin and the door reaches as its lights
switch or alarm: the door can hold the lights on (an Open+ grant, the closing round) and hold
the alarm off while the count says someone is inside (controller.door.occupancy). So the
schedule, a manager or an offset never arm the alarm on someone inside.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from gpiozero.pins import Factory

from controller.config.outputs import BuildingOutputSettings, Role, door_lines
from controller.config.settings import Settings
from controller.domain.clock import Clock, format_local
from controller.domain.outputs import (
    ManualState,
    OutputPlan,
    OutputRules,
    OutputStatus,
    UnknownOutput,
    manual_until,
    plan_output,
    planned_state,
)
from controller.domain.schedule import Schedule
from controller.door.hardware import HardwareError
from controller.door.manual_outputs import MANUAL_FILE, ManualStore
from controller.door.timers import ClockTimers
from drivers.outputs import BuildingOutput

log = logging.getLogger(__name__)

TIMER_PREFIX = "output:"
RECHECK_AFTER = timedelta(days=1)  # no switch in sight: look again after this long
ManualChoice = Literal["on", "off", "auto"]


class OutputPin(Protocol):
    """What the runner needs of a pin (drivers.outputs.BuildingOutput)."""

    def set(self, on: bool) -> None: ...

    @property
    def is_on(self) -> bool: ...

    def close(self) -> None: ...


class DoorLine:
    """The pin of a role output: what the runner wants, combined with what the door holds.

    lights: on when the runner or the door wants them on. alarm: armed when the runner wants
    it armed and the door does not hold it off. A lock guards the pair and the pin write (a
    few microseconds): the runner's thread and the door's may both set it.
    """

    def __init__(self, pin: OutputPin, role: Role, held: bool = False) -> None:
        self._pin, self.role = pin, role
        self._wanted = pin.is_on
        self._door = held  # lights: the door holds them on; alarm: the door holds it off
        self._lock = threading.Lock()

    # --- the runner's side (OutputPin) ---
    def set(self, on: bool) -> None:
        with self._lock:
            self._wanted = on
            self._write()

    @property
    def is_on(self) -> bool:
        return self._pin.is_on

    def close(self) -> None:
        self._pin.close()

    # --- the door's side: lights (Switch) ---
    def on(self) -> None:
        self._hold(True)

    def off(self) -> None:
        self._hold(False)

    # --- the door's side: alarm (Alarm, HeldAlarm) ---
    def arm(self) -> None:
        """Nothing to do: the schedule arms it; the door only holds it off (hold_off)."""

    def disarm(self) -> None:
        """Nothing to do: the schedule disarms it."""

    def hold_off(self, held: bool) -> None:
        self._hold(held)

    def _hold(self, door: bool) -> None:
        with self._lock:
            self._door = door
            self._write()

    def _write(self) -> None:
        level = (self._wanted or self._door) if self.role == "lights" else (self._wanted and not self._door)
        if self._pin.is_on != level:
            self._pin.set(level)
            log.info(
                "%s %s (door %s)", self.role, "on" if level else "off", "holds" if self._door else "free"
            )


@dataclass
class _Output:
    name: str
    rules: OutputRules
    pin: OutputPin
    manual: ManualState | None = None
    generation: int = 0


def build_output_pins(
    outputs: Sequence[BuildingOutputSettings],
    schedule: Schedule,
    now: datetime,
    pin_factory: Factory | None,
    alarm_held: bool = False,
    manual: Mapping[str, ManualState] | None = None,
) -> list[BuildingOutput]:
    """Every output's pin, each starting in the state a `manual` switch that holds at `now`
    wants, or else the schedule; with `alarm_held` the alarm line starts off, whatever they
    want (the door decides)."""
    made: list[BuildingOutput] = []
    try:
        for config in outputs:
            held = (manual or {}).get(config.name)
            wanted = held.on if held and held.holds_at(now) else planned_state(schedule, config.rules(), now)
            made.append(
                BuildingOutput(
                    config.name,
                    config.pin,
                    active_high=config.active_high,
                    pin_factory=pin_factory,
                    initial_on=wanted and not (alarm_held and config.role == "alarm"),
                )
            )
    except Exception as exc:  # gpiozero's pin errors: a pin in use, a name it does not know
        for pin in made:
            pin.close()
        raise HardwareError(f"output {config.name}: {type(exc).__name__}: {exc}") from exc
    return made


class OutputsRunner:
    """Sets every building output at its switch times; thread-safe."""

    def __init__(
        self,
        outputs: Sequence[tuple[str, OutputRules, OutputPin]],
        schedule: Schedule,
        *,
        clock: Clock,
        timers: ClockTimers,
        store: ManualStore | None = None,
        manual: Mapping[str, ManualState] | None = None,
    ) -> None:
        """`store`: where the manual switches are kept (None: a restart forgets them);
        `manual`: those it gave back at start, already set on the pins."""
        restored = manual or {}
        self._outputs = {name: _Output(name, rules, pin, restored.get(name)) for name, rules, pin in outputs}
        self._schedule = schedule
        self._clock = clock
        self._timers = timers
        self._store = store
        self._lock = threading.RLock()

    @classmethod
    def from_settings(
        cls,
        outputs: Sequence[BuildingOutputSettings],
        schedule: Schedule,
        clock: Clock,
        timers: ClockTimers,
        pin_factory: Factory | None,
        alarm_held: bool = False,
        store: ManualStore | None = None,
    ) -> OutputsRunner:
        """The runner of [[outputs]] with its pins (HardwareError: a pin cannot be had);
        `alarm_held`: the alarm line starts held off until the door's first hold_off; `store`:
        where the manual switches are kept, read here so the pins start as they want."""
        now = clock()
        rules = {config.name: config.rules() for config in outputs}
        loaded = store.load(list(rules), now) if store is not None else {}
        manual = {}
        for name, state in loaded.items():
            # Until the first switch of the schedule in force since the switch was made: it may
            # have been edited while the door was down, and a switch it had then ends this one.
            until = manual_until(schedule, rules[name], state.since)
            if until is not None and until <= now:
                log.info("output %s: manual state by %s ended at %s", name, state.actor, format_local(until))
                continue
            manual[name] = replace(state, until=until)
        pins = build_output_pins(outputs, schedule, now, pin_factory, alarm_held, manual)
        named = [
            (
                config.name,
                config.rules(),
                DoorLine(pin, config.role, held=alarm_held and config.role == "alarm")
                if config.role
                else pin,
            )
            for config, pin in zip(outputs, pins, strict=True)
        ]
        return cls(named, schedule, clock=clock, timers=timers, store=store, manual=manual)

    @classmethod
    def for_branch(
        cls,
        settings: Settings,
        schedule: Schedule,
        clock: Clock,
        timers: ClockTimers,
        pin_factory: Factory | None,
        alarm_held: bool = False,
    ) -> OutputsRunner:
        """[[outputs]] with the door's lights and alarm lines (old [hardware] keys included).
        `alarm_held`: the alarm starts held off, for a door that may resume a count with
        someone inside (a restart in the closing round must not arm it, even for an instant).
        Manual switches are kept in the data directory's MANUAL_FILE."""
        outputs = door_lines(settings.outputs, settings.hardware)
        store = ManualStore(settings.data_dir / MANUAL_FILE)
        return cls.from_settings(outputs, schedule, clock, timers, pin_factory, alarm_held, store)

    @property
    def names(self) -> list[str]:
        return list(self._outputs)

    def door_line(self, role: Role) -> DoorLine | None:
        """The lights or alarm line, for the door to hold (None: no output has that role)."""
        lines = [o.pin for o in self._outputs.values() if isinstance(o.pin, DoorLine) and o.pin.role == role]
        return lines[0] if lines else None

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> list[OutputStatus]:
        """Every output in its state now (a restored manual switch included), and its next
        switch planned."""
        return self._apply_all()

    def stop(self) -> None:
        """Cancel the timers and release the pins (a released pin is up to the relay board)."""
        with self._lock:
            for output in self._outputs.values():
                output.generation += 1
                self._timers.remove(TIMER_PREFIX + output.name)
                output.pin.close()

    def replace_schedule(self, schedule: Schedule) -> list[OutputStatus]:
        """A saved schedule: every output in the state it gives now, at once. A manual state
        still holds, now until the next switch of the new schedule."""
        with self._lock:
            self._schedule = schedule
            now = self._clock()
            for output in self._outputs.values():
                if output.manual is not None and output.manual.holds_at(now):
                    output.manual = ManualState(
                        output.manual.on,
                        output.manual.since,
                        manual_until(schedule, output.rules, now),
                        output.manual.actor,
                    )
            return self._apply_all()

    # --- reading and switching by hand ----------------------------------------------------------
    def statuses(self) -> list[OutputStatus]:
        with self._lock:
            now = self._clock()
            return [self._status(output, now) for output in self._outputs.values()]

    def set_manual(self, name: str, choice: ManualChoice, actor: str) -> OutputStatus:
        """A manager's switch: on or off until the next planned switch, or back to the schedule."""
        with self._lock:
            output = self._outputs.get(name)
            if output is None:
                raise UnknownOutput(f"no output named '{name}'")
            now = self._clock()
            if choice == "auto":
                output.manual = None
            else:
                output.manual = ManualState(
                    choice == "on", now, manual_until(self._schedule, output.rules, now), actor
                )
            log.info("output %s set %s by %s", name, choice, actor)
            status = self._apply(output, now)
            self._keep()
            return status

    # --- the timers' side -------------------------------------------------------------------------
    def run_switch(self, name: str, generation: int, due: datetime) -> None:
        """The job at an output's planned switch (or the end of its manual state)."""
        with self._lock:
            output = self._outputs[name]
            if generation != output.generation:
                return  # planned before a schedule change or a manual switch
            self._apply(output, max(self._clock(), due))  # never a hair before the switch
            self._keep()  # a manual state may have ended

    # --- internals ---------------------------------------------------------------------------------
    def _apply_all(self) -> list[OutputStatus]:
        with self._lock:
            now = self._clock()
            statuses = [self._apply(output, now) for output in self._outputs.values()]
            self._keep()
            return statuses

    def _keep(self) -> None:
        """The manual states to the store (it writes only a change); under the runner's lock,
        so two threads' writes land in the order of their changes."""
        if self._store is not None:
            self._store.save({o.name: o.manual for o in self._outputs.values() if o.manual is not None})

    def _apply(self, output: _Output, now: datetime) -> OutputStatus:
        """Set the pin to its state at `now` and plan the next change."""
        if output.manual is not None and not output.manual.holds_at(now):
            log.info("output %s: manual state by %s ends", output.name, output.manual.actor)
            output.manual = None
        plan = plan_output(self._schedule, output.rules, now, output.manual)
        if isinstance(output.pin, DoorLine):
            output.pin.set(plan.on)  # what the runner wants, whatever the door holds now
        elif output.pin.is_on != plan.on:
            output.pin.set(plan.on)
            log.info("output %s %s (%s)", output.name, "on" if plan.on else "off", plan.source.value)
        output.generation += 1
        due = plan.next_at or now + RECHECK_AFTER
        self._timers.add(
            TIMER_PREFIX + output.name, due, self.run_switch, output.name, output.generation, due
        )
        if plan.next_at is not None:
            log.debug("output %s next %s at %s", output.name, plan.next_on, format_local(plan.next_at))
        return self._status(output, now, plan)

    def _status(self, output: _Output, now: datetime, plan: OutputPlan | None = None) -> OutputStatus:
        """The output as shown: the pin's own state, who decides it, and what comes next."""
        plan = plan or plan_output(self._schedule, output.rules, now, output.manual)
        manual = output.manual if output.manual is not None and output.manual.holds_at(now) else None
        return OutputStatus(
            name=output.name,
            on=output.pin.is_on,
            source=plan.source,
            planned_on=plan.planned_on,
            next_at=plan.next_at,
            next_on=plan.next_on,
            manual_by=manual.actor if manual else None,
        )
