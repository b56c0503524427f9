"""Test helpers for GPIO drivers: mock pins you can wait on, a simulated key matrix and
Wiegand pulses. The fixtures are conftest's: `mock_factory` (a fresh factory of these pins per
test) in tests/conftest.py, the fake clock and event queue in tests/drivers/conftest.py.

The factory is passed to devices explicitly; `Device.pin_factory` is never touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from gpiozero.pins.mock import MockFactory, MockPin


class NotifyingMockPin(MockPin):
    """A MockPin whose level changes can be awaited (for blink threads), not slept on."""

    def __init__(self, factory, info, **kwargs) -> None:
        self._changed = threading.Condition()
        super().__init__(factory, info, **kwargs)

    def _change_state(self, value: bool) -> bool:
        with self._changed:
            changed = super()._change_state(value)
            self._changed.notify_all()
        return changed

    def wait_for_state(self, state: bool, timeout: float = 2.0) -> bool:
        """True once the pin reads `state`, False if it did not within `timeout` seconds."""
        return self.wait_until(lambda: self._state == state, timeout)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 2.0) -> bool:
        """True once `condition()` holds (checked at each level change), False on timeout."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)


class AdvancingClock(Protocol):
    """A fake monotonic clock, e.g. conftest's `fake_monotonic` fixture."""

    def advance(self, seconds: float) -> None: ...


def pulse_wiegand(
    factory: MockFactory,
    d0: int,
    d1: int,
    bits: Sequence[int],
    clock: AdvancingClock | None = None,
    bit_spacing_s: float = 0.002,
) -> None:
    """Send `bits` as active-low pulses: D0 for a 0, D1 for a 1 (advancing `clock` per bit)."""
    for bit in bits:
        pin = factory.pin(d1 if bit else d0)
        pin.drive_low()
        pin.drive_high()
        if clock is not None:
            clock.advance(bit_spacing_s)


class KeypadRowPin(NotifyingMockPin):
    """A row output pin that re-evaluates the key matrix whenever it changes level."""

    def __init__(self, factory, info, matrix: KeypadMatrix | None = None) -> None:
        self.matrix = matrix
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed and self.matrix is not None:
            self.matrix.refresh()
        return changed


class KeypadMatrix:
    """The keypad's switches: a pressed key connects its row to its column.

    A column reads low while any pressed key in it sits on a row driven low; otherwise the
    pull-up keeps it high. Create it before the keypad device so the row pins are ours.
    """

    def __init__(self, factory: MockFactory, row_pins: Sequence[int], col_pins: Sequence[int]) -> None:
        self.pressed: set[tuple[int, int]] = set()
        self.cols = [factory.pin(pin) for pin in col_pins]
        self.rows = [factory.pin(pin, pin_class=KeypadRowPin, matrix=self) for pin in row_pins]

    def press(self, row: int, col: int) -> None:
        self.pressed.add((row, col))
        self.refresh()

    def release(self, row: int, col: int) -> None:
        self.pressed.discard((row, col))
        self.refresh()

    def refresh(self) -> None:
        rows = getattr(self, "rows", [])
        for c, col_pin in enumerate(self.cols):
            connected_low = any(
                (r, c) in self.pressed and not row_pin.state for r, row_pin in enumerate(rows)
            )
            if connected_low:
                col_pin.drive_low()
            else:
                col_pin.drive_high()
