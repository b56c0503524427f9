"""Building outputs per mode: whether a named output (public PCs, heating, a sign) is on at a
moment, and when it next switches, from the schedule's mode changes and the output's rules.

Pure: the schedule and a moment in, UTC instants out (controller.domain.timeline does the
Europe/Amsterdam arithmetic, so a switch planned "10 minutes before Open+ starts" lands 10 real
minutes before the UTC instant the window starts, on DST nights too). The door process's runner
(controller.door.outputs_runner) sets the pins at these instants on its clock's timers.

The rules: an output is on in the modes of `on_in` and off in the others. It switches only at a
mode change that changes its state (Open+ -> staffed leaves PCs that are on in both alone), at
the change's instant moved by an offset: the offset for the end of the mode left, else for the
start of the mode entered, else none. When offsets make switches overlap (PCs off 15 minutes
before the end of an Open+ stretch that lasts 10), the switch of the later mode change wins, so
the output always ends up as the latest change asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from controller.domain.clock import to_utc
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.domain.timeline import ModeChange, mode_only_at, next_change

MAX_OFFSET_MINUTES = 240  # four hours either way: further is another mode's business
# How many mode changes next_switch reads ahead for one that switches the output; beyond,
# the runner looks again later (an output on in every mode never switches at all).
MAX_CHANGES_AHEAD = 200


class UnknownOutput(LookupError):
    """No output of that name in [[outputs]]."""


class Edge(StrEnum):
    """Which end of a mode's stretch an offset belongs to."""

    START = "start"
    END = "end"


class Source(StrEnum):
    """Who decides an output's state right now: the schedule or a manager's switch."""

    SCHEDULE = "schedule"
    MANUAL = "manual"


@dataclass(frozen=True)
class OutputRules:
    """One output's state per mode and its offsets (minutes; negative = before the change)."""

    on_in: frozenset[DoorMode]
    offsets: Mapping[tuple[DoorMode, Edge], int] = field(default_factory=dict)

    def is_on_in(self, mode: DoorMode) -> bool:
        return mode in self.on_in

    def offset_for(self, left: DoorMode, entered: DoorMode) -> timedelta:
        """The shift of the switch at a change from `left` to `entered`."""
        minutes = self.offsets.get((left, Edge.END))
        if minutes is None:
            minutes = self.offsets.get((entered, Edge.START), 0)
        return timedelta(minutes=minutes)

    @property
    def latest_after(self) -> timedelta:
        """The largest positive offset: a switch can come this long after its change."""
        return timedelta(minutes=max([0, *self.offsets.values()]))

    @property
    def earliest_before(self) -> timedelta:
        """The largest negative offset, as a positive span: a switch this long before its change."""
        return timedelta(minutes=-min([0, *self.offsets.values()]))


@dataclass(frozen=True)
class Switch:
    """A mode change that switches the output: to `on` at `at` (the change's instant + offset)."""

    change_at: datetime
    at: datetime
    on: bool


@dataclass(frozen=True)
class ManualState:
    """A manager's switch: holds from `since` until `until` (the next planned switch when it was
    made; None: no planned switch in sight, so until "auto")."""

    on: bool
    since: datetime
    until: datetime | None
    actor: str

    def holds_at(self, moment: datetime) -> bool:
        return self.since <= moment and (self.until is None or moment < self.until)


@dataclass(frozen=True)
class OutputPlan:
    """An output at a moment: its state, who decided it, and when it next changes (UTC)."""

    on: bool
    source: Source
    planned_on: bool  # what the schedule says, whatever a manual switch says
    next_at: datetime | None  # the next planned switch, or the end of the manual state
    next_on: bool | None  # the state from next_at on (None: not known)


def _changes_from(schedule: Schedule, start: datetime) -> Iterator[tuple[DoorMode, ModeChange]]:
    """(mode left, change) for every mode change strictly after `start`, in order."""
    mode = mode_only_at(schedule, start)
    cursor = start
    for _ in range(MAX_CHANGES_AHEAD):
        change = next_change(schedule, cursor)
        if change is None:
            return
        yield mode, change
        mode, cursor = change.mode, change.at


def _switches(schedule: Schedule, rules: OutputRules, start: datetime) -> Iterator[Switch]:
    """The switching mode changes after `start`, in the order of their changes."""
    for left, change in _changes_from(schedule, start):
        on = rules.is_on_in(change.mode)
        if on != rules.is_on_in(left):
            yield Switch(change.at, change.at + rules.offset_for(left, change.mode), on)


class _Walk:
    """Switches read lazily from `start`; the state at a moment once every change that could
    still be switched before it (up to earliest_before later) has been read."""

    def __init__(self, schedule: Schedule, rules: OutputRules, start: datetime) -> None:
        self.rules = rules
        self.start_on = rules.is_on_in(mode_only_at(schedule, start))
        self.read: list[Switch] = []
        self._source = _switches(schedule, rules, start)
        self.exhausted = False

    def read_past(self, change_at: datetime) -> Switch | None:
        """Read switches until one whose change is after `change_at` (returned), or the end."""
        while not self.exhausted:
            switch = next(self._source, None)
            if switch is None:
                self.exhausted = True
                return None
            self.read.append(switch)
            if switch.change_at > change_at:
                return switch
        return None

    def deciding(self, moment: datetime) -> Switch | None:
        """The switch that decides the state at `moment`: of the changes already switched by
        then, the latest (None: none, the state at the start holds)."""
        self.read_past(moment + self.rules.earliest_before)
        done = [switch for switch in self.read if switch.at <= moment]
        return max(done, key=lambda s: s.change_at) if done else None

    def on_at(self, moment: datetime) -> bool:
        deciding = self.deciding(moment)
        return deciding.on if deciding is not None else self.start_on


def planned_state(schedule: Schedule, rules: OutputRules, moment: datetime) -> bool:
    """Whether the schedule has the output on at `moment` (aware; a restart mid-window asks)."""
    moment = to_utc(moment)
    return _Walk(schedule, rules, moment - rules.latest_after).on_at(moment)


def next_switch(schedule: Schedule, rules: OutputRules, moment: datetime) -> Switch | None:
    """The first instant strictly after `moment` at which the planned state changes (None:
    none within MAX_CHANGES_AHEAD mode changes)."""
    moment = to_utc(moment)
    walk = _Walk(schedule, rules, moment - rules.latest_after)
    current = walk.on_at(moment)
    checked = moment  # no state change in (moment, checked]
    while True:
        pending = [switch.at for switch in walk.read if switch.at > checked]
        if not pending:
            if walk.exhausted:
                return None
            walk.read_past(walk.read[-1].change_at if walk.read else moment)
            continue
        candidate = min(pending)
        # Settle it: read every change that could still be switched at or before it.
        walk.read_past(candidate + rules.earliest_before)
        if min(switch.at for switch in walk.read if switch.at > checked) < candidate:
            continue  # a switch read just now comes first
        deciding = walk.deciding(candidate)
        if deciding is not None and deciding.on != current:
            return Switch(deciding.change_at, candidate, deciding.on)
        checked = candidate


def plan_output(
    schedule: Schedule, rules: OutputRules, moment: datetime, manual: ManualState | None = None
) -> OutputPlan:
    """The output at `moment`: a manual state while it holds, else the schedule's, with the
    next instant either changes."""
    moment = to_utc(moment)
    planned = planned_state(schedule, rules, moment)
    if manual is not None and manual.holds_at(moment):
        return OutputPlan(
            on=manual.on,
            source=Source.MANUAL,
            planned_on=planned,
            next_at=manual.until,
            next_on=None if manual.until is None else planned_state(schedule, rules, manual.until),
        )
    switch = next_switch(schedule, rules, moment)
    return OutputPlan(
        on=planned,
        source=Source.SCHEDULE,
        planned_on=planned,
        next_at=switch.at if switch else None,
        next_on=switch.on if switch else None,
    )


def manual_until(schedule: Schedule, rules: OutputRules, moment: datetime) -> datetime | None:
    """Until when a manual switch made at `moment` holds: the next planned switch."""
    switch = next_switch(schedule, rules, moment)
    return switch.at if switch else None


@dataclass(frozen=True)
class OutputStatus:
    """One output as the Today page and the API show it (what the door link carries)."""

    name: str
    on: bool
    source: Source
    planned_on: bool
    next_at: datetime | None  # aware UTC
    next_on: bool | None
    manual_by: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "on": self.on,
            "source": self.source.value,
            "planned_on": self.planned_on,
            "next_at": self.next_at.isoformat() if self.next_at else None,
            "next_on": self.next_on,
            "manual_by": self.manual_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> OutputStatus:
        """Raises KeyError, TypeError or ValueError on anything but what to_json made."""
        next_at = data["next_at"]
        if next_at is not None and not isinstance(next_at, str):
            raise TypeError("next_at")
        at = to_utc(datetime.fromisoformat(next_at)) if next_at else None  # naive: ValueError
        next_on, manual_by = data["next_on"], data["manual_by"]
        return cls(
            name=str(data["name"]),
            on=bool(data["on"]),
            source=Source(str(data["source"])),
            planned_on=bool(data["planned_on"]),
            next_at=at,
            next_on=None if next_on is None else bool(next_on),
            manual_by=None if manual_by is None else str(manual_by),
        )
