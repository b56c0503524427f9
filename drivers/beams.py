"""A directional people counter on two GPIO inputs: two break-beams across the doorway, or a
commercial counter's two pulse outputs. Beam A is the outside one, B the inside one.

A person walking in breaks A first and leaves B last; walking out, B first and A last. So a
sequence starts when a beam breaks with none broken, and it is counted when
  * both beams were broken in it, and
  * the beam broken first is not the beam cleared last:
A first and B last is `in`, B first and A last is `out`. Someone who steps into the doorway and
turns back breaks and clears the same beam first and last: not counted. A pulse counter's A
pulse then B pulse (beams never broken together) is the same sequence and counts the same.
A sequence that has not ended `timeout_s` after it started is dropped (someone lingering, a
single beam blocked); only a whole sequence ever counts, so nothing is counted late.
A beam broken and restored within `flicker_s` (a sleeve, an insect, a noisy line) is taken out
of the sequence as if it never broke. Two people walking with no gap between them are one body
to two beams; that limit is physical, and the door's tailgating check errs on the safe side.

Times come from the injected `monotonic` clock (gpiozero's own bounce filter is not used:
mock pins ignore it, and it would swallow a flicker's second edge); `clock` stamps crossings
with wall time. Callbacks run on gpiozero's pin-event thread: `on_crossed` must only queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from gpiozero import Button
from gpiozero.pins import Factory

PinId = int | str
Direction = Literal["in", "out"]
Beam = Literal["a", "b"]

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_FLICKER_S = 0.03


@dataclass(frozen=True)
class PersonCrossed:
    """One person went through the doorway; `at` is when the crossing completed (aware UTC)."""

    direction: Direction
    at: datetime


class CrossingSequence:
    """The counting rule without pins: feed it beam edges with their monotonic times."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, flicker_s: float = DEFAULT_FLICKER_S) -> None:
        if timeout_s <= 0 or flicker_s < 0:
            raise ValueError(f"timeout must be > 0 and flicker >= 0 (got {timeout_s}, {flicker_s})")
        self.timeout_s = timeout_s
        self.flicker_s = flicker_s
        self._broken: dict[Beam, float] = {}  # beams broken now -> when they broke
        self._order: list[Beam] = []  # breaks of this sequence, oldest first
        self._started: float | None = None
        self.dropped = 0  # sequences that ended without a count (turned back, timed out)

    def broken(self, beam: Beam, t: float) -> None:
        if beam in self._broken:
            return  # a repeated edge: it is broken already
        self._expire(t)
        if self._started is None:
            self._started = t
        self._broken[beam] = t
        self._order.append(beam)

    def cleared(self, beam: Beam, t: float) -> Direction | None:
        """The direction when this edge completes a crossing, else None."""
        since = self._broken.pop(beam, None)
        if since is None:
            return None  # cleared without a break we saw (start-up, a dropped sequence)
        if t - since < self.flicker_s:
            latest = max(i for i, seen in enumerate(self._order) if seen == beam)
            del self._order[latest]  # the latest break of this beam never happened
            if not self._order:
                self._reset()
            return None
        if self._started is not None and t - self._started > self.timeout_s:
            self.dropped += 1
            self._reset()  # too slow: not one person walking through
            return None
        if self._broken or set(self._order) != {"a", "b"}:
            return None  # still in the doorway, or waiting for the other beam (pulses)
        first = self._order[0]
        self._reset()
        if first == beam:
            self.dropped += 1  # came in as far as the other beam and turned back
            return None
        return "in" if first == "a" else "out"

    def _expire(self, t: float) -> None:
        """A sequence older than the timeout with no beam broken now is over: drop it."""
        if self._started is not None and not self._broken and t - self._started > self.timeout_s:
            self.dropped += 1
            self._reset()

    def _reset(self) -> None:
        self._order.clear()
        self._started = None


class DirectionalCounter:
    """Two beam inputs turned into PersonCrossed values.

    `broken_when_low` (the default) suits IR break-beam receivers and pulse outputs with an
    open collector: the Pi's pull-up holds the line high, and it is pulled low while the beam
    is broken / the pulse is on. False: a pull-down, and high means broken.
    """

    def __init__(
        self,
        a_pin: PinId,
        b_pin: PinId,
        *,
        on_crossed: Callable[[PersonCrossed], None] | None = None,
        broken_when_low: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        flicker_s: float = DEFAULT_FLICKER_S,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pin_factory: Factory | None = None,
    ) -> None:
        self.on_crossed = on_crossed
        self.sequence = CrossingSequence(timeout_s, flicker_s)
        self.totals: dict[Direction, int] = {"in": 0, "out": 0}
        self._mono = monotonic
        self.clock = clock  # stamps crossings; the service sets its own (injected) clock
        self._buttons: list[Button] = []
        try:
            beams: tuple[tuple[Beam, PinId], ...] = (("a", a_pin), ("b", b_pin))
            for name, pin in beams:
                self._buttons.append(self._beam(name, pin, broken_when_low, pin_factory))
        except Exception:
            self.close()
            raise

    def _beam(self, name: Beam, pin: PinId, broken_when_low: bool, pin_factory: Factory | None) -> Button:
        # Active = broken: with the pull-up, while the pin is low; with the pull-down, high.
        button = Button(pin, pull_up=broken_when_low, bounce_time=None, pin_factory=pin_factory)
        button.when_activated = lambda: self.sequence.broken(name, self._mono())
        button.when_deactivated = lambda: self._cleared(name)
        return button

    def _cleared(self, beam: Beam) -> None:
        direction = self.sequence.cleared(beam, self._mono())
        if direction is None:
            return
        self.totals[direction] += 1
        if self.on_crossed is not None:
            self.on_crossed(PersonCrossed(direction, self.clock()))

    def close(self) -> None:
        for button in self._buttons:
            button.close()
        self._buttons.clear()
