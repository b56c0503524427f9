"""USB keyboard-wedge readers (barcode or RFID readers that type the number and Enter), via evdev.

The device is opened by path (/dev/input/by-id/... is stable across replugs) or by its exact
evdev name, and grabbed by default so the digits do not also reach a console or kiosk page.

Testing: /dev/uinput does not exist on the development machine, so opening, grabbing and
reading a real input device is not covered end-to-end by the test suite; the key-event
decoder is tested by feeding it `evdev.InputEvent` objects. On the Pi, check the device part
by hand: `evtest` to find the device, then run the reader and scan a card.
"""

from __future__ import annotations

import errno
import select
import time
from collections.abc import Iterable
from functools import partial

import evdev
from evdev import InputEvent, ecodes

from drivers.readers.barcode import MAX_CARD_DIGITS, MIN_CARD_DIGITS, check_card_line
from drivers.readers.serial_port import (
    DecodeResult,
    Dropped,
    Monotonic,
    RepeatFilter,
    StreamCardReader,
)

KEY_UP, KEY_DOWN = 0, 1  # evdev key values; 2 is autorepeat

DIGIT_KEYS: dict[int, str] = {
    **{getattr(ecodes, f"KEY_{digit}"): str(digit) for digit in range(10)},
    **{getattr(ecodes, f"KEY_KP{digit}"): str(digit) for digit in range(10)},
}
ENTER_KEYS = frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER})
SPACE_KEYS = frozenset({ecodes.KEY_SPACE})
# While one of these is held a digit key types something else ('!' for shift+1), not a digit.
HELD_MODIFIER_KEYS = frozenset(
    {
        ecodes.KEY_LEFTSHIFT,
        ecodes.KEY_RIGHTSHIFT,
        ecodes.KEY_LEFTCTRL,
        ecodes.KEY_RIGHTCTRL,
        ecodes.KEY_LEFTALT,
        ecodes.KEY_RIGHTALT,
        ecodes.KEY_LEFTMETA,
        ecodes.KEY_RIGHTMETA,
    }
)
LOCK_KEYS = frozenset({ecodes.KEY_CAPSLOCK, ecodes.KEY_NUMLOCK, ecodes.KEY_SCROLLLOCK})
NON_DIGIT_MARK = "?"  # stands in for any other key so check_card_line rejects the line


class KeyEventLineDecoder:
    """Pure decoder: evdev key-down events in, card digits (on Enter) or drop reasons out.

    Only key-down events type something (key-up, autorepeat, EV_SYN, EV_MSC are ignored). Lock
    keys are ignored; a digit typed while shift/ctrl/alt/meta is held, and any key other than a
    digit, space or Enter, makes the line fail as "non_digit"; spaces are left for
    check_card_line to strip. A line whose keys are more than `max_key_gap_seconds` apart (event
    timestamps) is dropped as "stale_partial": a reader types a whole number within
    milliseconds, so a leftover key must not be glued onto the next card.
    """

    def __init__(
        self,
        min_digits: int = MIN_CARD_DIGITS,
        max_digits: int = MAX_CARD_DIGITS,
        max_key_gap_seconds: float = 1.0,
    ) -> None:
        self._min_digits = min_digits
        self._max_digits = max_digits
        self._max_line_chars = 2 * max_digits
        self._max_key_gap_seconds = max_key_gap_seconds
        self._chars: list[str] = []
        self._overlong = False
        self._last_key_time: float | None = None
        self._held_modifiers: set[int] = set()

    def feed(self, events: Iterable[InputEvent]) -> list[DecodeResult]:
        results: list[DecodeResult] = []
        for event in events:
            if event.type != ecodes.EV_KEY:
                continue
            stale = self._forget_after_gap(event.timestamp())
            if stale is not None:
                results.append(stale)
            if event.code in HELD_MODIFIER_KEYS:
                self._track_modifier(event.code, event.value)
                continue
            if event.value != KEY_DOWN or event.code in LOCK_KEYS:
                continue
            line_result = self._key_down(event.code)
            if line_result is not None:
                results.append(line_result)
        return results

    def _track_modifier(self, code: int, value: int) -> None:
        if value == KEY_UP:
            self._held_modifiers.discard(code)
        elif value == KEY_DOWN:
            self._held_modifiers.add(code)

    def _forget_after_gap(self, now: float) -> Dropped | None:
        """After a quiet gap, drop a partial line and forget modifiers (a key-up may be lost)."""
        last, self._last_key_time = self._last_key_time, now
        if last is None or now - last <= self._max_key_gap_seconds:
            return None
        self._held_modifiers.clear()
        had_partial_line = bool(self._chars) or self._overlong
        self._clear()
        return Dropped("stale_partial") if had_partial_line else None

    def _key_down(self, code: int) -> DecodeResult | None:
        if code in ENTER_KEYS:
            return self._finish_line()
        if len(self._chars) >= self._max_line_chars:
            self._overlong = True
            return None
        if code in DIGIT_KEYS and not self._held_modifiers:
            self._chars.append(DIGIT_KEYS[code])
        elif code in SPACE_KEYS:
            self._chars.append(" ")
        else:
            self._chars.append(NON_DIGIT_MARK)
        return None

    def _finish_line(self) -> DecodeResult | None:
        chars, overlong = self._chars, self._overlong
        self._clear()
        if overlong:
            return Dropped("too_long")
        if not chars:
            return None  # a bare Enter is not a card attempt
        return check_card_line("".join(chars), self._min_digits, self._max_digits)

    def _clear(self) -> None:
        self._chars = []
        self._overlong = False


def open_input_device(device: str) -> evdev.InputDevice:
    """Open an input device by path (starts with '/') or by its exact evdev name."""
    if device.startswith("/"):
        return evdev.InputDevice(device)
    for path in evdev.list_devices():
        try:
            candidate = evdev.InputDevice(path)
        except OSError:
            continue  # unreadable or gone meanwhile; not ours to report
        if candidate.name == device:
            return candidate
        candidate.close()
    raise FileNotFoundError(errno.ENOENT, f"no input device named {device!r}")


class EvdevKeySource:
    """An open (optionally grabbed) input device, polled briefly so close() is noticed promptly."""

    def __init__(self, device: str, grab: bool = True, poll_seconds: float = 0.1) -> None:
        self._device = open_input_device(device)
        self._poll_seconds = poll_seconds
        if grab:
            try:
                self._device.grab()
            except OSError:
                self._device.close()
                raise

    def read_chunk(self) -> list[InputEvent]:
        ready, _, _ = select.select([self._device.fd], [], [], self._poll_seconds)
        if not ready:
            return []
        try:
            return list(self._device.read())
        except BlockingIOError:
            return []

    def close(self) -> None:
        self._device.close()  # closing the fd also releases the grab


class KeyboardWedgeReader(StreamCardReader[list[InputEvent]]):
    """A keyboard-wedge card reader: emits each typed card number, reopens the device if it vanishes.

    An identical number within `repeat_seconds` of the last one is ignored (double scans).
    """

    def __init__(
        self,
        name: str,
        device: str,
        *,
        grab: bool = True,
        repeat_seconds: float = 1.0,
        monotonic: Monotonic = time.monotonic,
        retry_seconds: float = 2.0,
        min_digits: int = MIN_CARD_DIGITS,
        max_digits: int = MAX_CARD_DIGITS,
        max_key_gap_seconds: float = 1.0,
    ) -> None:
        super().__init__(
            name,
            open_source=partial(EvdevKeySource, device, grab),
            decoder=KeyEventLineDecoder(min_digits, max_digits, max_key_gap_seconds),
            repeat_filter=RepeatFilter(repeat_seconds, monotonic),
            retry_seconds=retry_seconds,
        )
