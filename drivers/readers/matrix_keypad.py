"""A 4x3 or 4x4 membrane matrix keypad scanned over GPIO.

Wiring (the usual one): rows are outputs, idle high, driven low one at a time; columns are
inputs with the Pi's pull-ups. A column reading low while row r is driven means the key at
(r, column) is pressed. Idle rows are driven high, not floated, so two keys pressed in one
column short a high row to the low one through the keypad: put ~1 kOhm in series with each
row (or diodes) if people may mash keys.

Debouncing is done here, with an injected clock, because gpiozero's bounce_time is for edge
callbacks (and the mock pin factory does not implement it): a key counts as pressed once it
has read pressed in consecutive scans spanning at least `debounce_s`, and as released the same
way. One KeyPress per press; holding a key does not repeat it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpiozero import DigitalInputDevice, DigitalOutputDevice
from gpiozero.pins import Factory

from drivers.base import KEYPAD_KEYS, EventSink, KeyPress, ReaderStats

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]

KEYMAP_4X3: tuple[str, ...] = ("123", "456", "789", "*0#")
# A-D have no meaning at the door: they are scanned but dropped as unmapped unless the
# installer maps them (e.g. "D" -> "#") in their own key map.
KEYMAP_4X4: tuple[str, ...] = ("123A", "456B", "789C", "*0#D")

DROP_UNMAPPED_KEY = "unmapped_key"

DEFAULT_DEBOUNCE_S = 0.03
DEFAULT_SCAN_INTERVAL_S = 0.01


@dataclass
class _KeyState:
    """Debounce bookkeeping for one key position."""

    pressed: bool = False  # the debounced state
    change_seen_at: float | None = None  # first scan of an unbroken run of the opposite reading


class KeyDebouncer:
    """Turns raw per-scan readings into one 'pressed' edge per real press.

    Pure: the caller passes the scan time; readings must come from consecutive scans.
    """

    def __init__(self, debounce_s: float = DEFAULT_DEBOUNCE_S) -> None:
        if debounce_s < 0:
            raise ValueError("debounce_s must not be negative")
        self.debounce_s = debounce_s
        self._states: dict[tuple[int, int], _KeyState] = {}

    def update(self, position: tuple[int, int], raw_pressed: bool, now: float) -> bool:
        """Record one reading; True exactly when the key has just become a debounced press."""
        state = self._states.setdefault(position, _KeyState())
        if raw_pressed == state.pressed:
            state.change_seen_at = None  # a glitch the other way ends here
            return False
        if state.change_seen_at is None:
            state.change_seen_at = now
        if now - state.change_seen_at < self.debounce_s:
            return False
        state.pressed, state.change_seen_at = raw_pressed, None
        return raw_pressed


def _validate_keymap(keymap: Sequence[str], rows: int, cols: int) -> tuple[str, ...]:
    if len(keymap) != rows or any(len(row) != cols for row in keymap):
        raise ValueError(f"key map must be {rows} rows of {cols} keys, got {list(keymap)!r}")
    return tuple(keymap)


class MatrixKeypad:
    """A scanned matrix keypad that sends one KeyPress per debounced press to a sink.

    `keymap` is one string per row, one character per column; characters outside
    '0'-'9', '*', '#' are scanned but counted as dropped ('unmapped_key'), never emitted.
    """

    def __init__(
        self,
        name: str,
        row_pins: Sequence[int | str],
        col_pins: Sequence[int | str],
        *,
        keymap: Sequence[str] | None = None,
        pin_factory: Factory | None = None,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        scan_interval_s: float = DEFAULT_SCAN_INTERVAL_S,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        if keymap is None:
            keymap = KEYMAP_4X3 if len(col_pins) == 3 else KEYMAP_4X4
        self.keymap = _validate_keymap(keymap, len(row_pins), len(col_pins))
        if scan_interval_s <= 0:
            raise ValueError("scan_interval_s must be positive")
        self.name = name
        self.stats = ReaderStats()
        self.scan_interval_s = scan_interval_s
        self._debouncer = KeyDebouncer(debounce_s)
        self._monotonic = monotonic
        self._scan_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink: EventSink | None = None
        self._rows: list[DigitalOutputDevice] = []
        self._cols: list[DigitalInputDevice] = []
        try:
            for pin in row_pins:
                # active-low: "on" drives the row low; initial_value=False = idle high.
                self._rows.append(
                    DigitalOutputDevice(pin, active_high=False, initial_value=False, pin_factory=pin_factory)
                )
            for pin in col_pins:
                self._cols.append(DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory))
        except Exception:
            self._close_devices()
            raise

    def scan(self, now: float) -> list[KeyPress]:
        """Drive each row in turn, read the columns, return keys that just became pressed."""
        presses: list[KeyPress] = []
        with self._scan_lock:
            for r, row in enumerate(self._rows):
                row.on()
                try:
                    readings = [col.is_active for col in self._cols]
                finally:
                    row.off()
                for c, raw_pressed in enumerate(readings):
                    if self._debouncer.update((r, c), raw_pressed, now):
                        key = self.keymap[r][c]
                        if key in KEYPAD_KEYS:
                            self.stats.frames_ok += 1
                            presses.append(KeyPress(key=key, reader=self.name))
                        else:
                            self.stats.dropped(DROP_UNMAPPED_KEY)
        return presses

    def start(self, sink: EventSink) -> None:
        """Start the background thread that scans every `scan_interval_s` and emits presses."""
        if self._thread is not None:
            raise RuntimeError(f"keypad {self.name} already started")
        self._sink = sink
        self._thread = threading.Thread(target=self._run_scanner, name=f"keypad-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop scanning and release the pins (rows end idle high, as constructed)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._close_devices()

    def _run_scanner(self) -> None:
        while not self._stopping.wait(self.scan_interval_s):
            try:
                presses = self.scan(self._monotonic())
            except Exception:  # a failing scan must not kill the thread silently
                log.exception("keypad %s: scan failed", self.name)
                continue
            for press in presses:
                if self._sink is not None:
                    self._sink(press)

    def _close_devices(self) -> None:
        for device in (*self._rows, *self._cols):
            device.close()
