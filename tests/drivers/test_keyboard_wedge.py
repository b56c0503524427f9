"""Keyboard wedge: the key-event decoder fed real evdev.InputEvent objects.

/dev/uinput does not exist on the development machine, so no virtual keyboard can be made;
grabbing and reading a real device is untested here. What can run for real: opening a missing
device fails the way the reconnect loop expects.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
from evdev import InputEvent, ecodes

from drivers.base import ReaderFault
from drivers.readers.keyboard_wedge import KeyboardWedgeReader, KeyEventLineDecoder, open_input_device
from drivers.readers.serial_port import Dropped

LIBRARY_CARD = "20123456789012"
KEY_STEP_USEC = 2_000  # a wedge reader types a key every few milliseconds

TOP_ROW = {str(digit): getattr(ecodes, f"KEY_{digit}") for digit in range(10)}
KEYPAD = {str(digit): getattr(ecodes, f"KEY_KP{digit}") for digit in range(10)}


class Keyboard:
    """Produces the event stream a USB keyboard-wedge reader sends, with advancing timestamps."""

    def __init__(self) -> None:
        self.usec_total = 1_700_000_000 * 1_000_000

    def _event(self, type_: int, code: int, value: int) -> InputEvent:
        sec, usec = divmod(self.usec_total, 1_000_000)
        return InputEvent(sec, usec, type_, code, value)

    def pause(self, seconds: float) -> None:
        self.usec_total += int(seconds * 1_000_000)

    def press(self, code: int, *, repeat: int = 0) -> list[InputEvent]:
        """Key down (with optional autorepeats) and up, each followed by EV_SYN like the kernel."""
        self.usec_total += KEY_STEP_USEC
        events = [
            self._event(ecodes.EV_MSC, ecodes.MSC_SCAN, 0x7001E),
            self._event(ecodes.EV_KEY, code, 1),
            self._event(ecodes.EV_SYN, ecodes.SYN_REPORT, 0),
        ]
        for _ in range(repeat):
            events += [self._event(ecodes.EV_KEY, code, 2), self._event(ecodes.EV_SYN, ecodes.SYN_REPORT, 0)]
        events += [self._event(ecodes.EV_KEY, code, 0), self._event(ecodes.EV_SYN, ecodes.SYN_REPORT, 0)]
        return events

    def hold(self, code: int, value: int) -> list[InputEvent]:
        self.usec_total += KEY_STEP_USEC
        return [self._event(ecodes.EV_KEY, code, value), self._event(ecodes.EV_SYN, ecodes.SYN_REPORT, 0)]

    def type_digits(self, digits: str, keys: dict[str, int] = TOP_ROW) -> list[InputEvent]:
        return [event for digit in digits for event in self.press(keys[digit])]

    def enter(self, code: int = ecodes.KEY_ENTER) -> list[InputEvent]:
        return self.press(code)


@pytest.fixture
def keyboard() -> Keyboard:
    return Keyboard()


def decode(events: Iterable[InputEvent], **kwargs) -> list[object]:
    return KeyEventLineDecoder(**kwargs).feed(events)


def test_top_row_digits_and_enter(keyboard: Keyboard) -> None:
    assert decode(keyboard.type_digits(LIBRARY_CARD) + keyboard.enter()) == [LIBRARY_CARD]


def test_keypad_digits_and_keypad_enter(keyboard: Keyboard) -> None:
    events = keyboard.type_digits(LIBRARY_CARD, KEYPAD) + keyboard.enter(ecodes.KEY_KPENTER)
    assert decode(events) == [LIBRARY_CARD]


def test_every_digit_key_maps_to_its_digit(keyboard: Keyboard) -> None:
    events = keyboard.type_digits("0123456789") + keyboard.enter()
    events += keyboard.type_digits("9876543210", KEYPAD) + keyboard.enter()
    assert decode(events) == ["0123456789", "9876543210"]


def test_events_split_across_reads_still_form_one_line(keyboard: Keyboard) -> None:
    events = keyboard.type_digits(LIBRARY_CARD) + keyboard.enter()
    decoder = KeyEventLineDecoder()
    results = [result for index in range(len(events)) for result in decoder.feed(events[index : index + 1])]
    assert results == [LIBRARY_CARD]


def test_autorepeat_and_key_up_do_not_type(keyboard: Keyboard) -> None:
    events = keyboard.press(TOP_ROW["2"], repeat=5) + keyboard.type_digits("0123") + keyboard.enter()
    assert decode(events) == ["20123"]


def test_letter_makes_the_line_fail(keyboard: Keyboard) -> None:
    events = keyboard.type_digits("2012") + keyboard.press(ecodes.KEY_A) + keyboard.type_digits("3456")
    assert decode(events + keyboard.enter()) == [Dropped("non_digit")]


def test_shifted_digit_is_not_a_digit(keyboard: Keyboard) -> None:
    """Shift+1 types '!' on a real keyboard; it must not be read as '1'."""
    events = keyboard.type_digits("2012")
    events += keyboard.hold(ecodes.KEY_LEFTSHIFT, 1) + keyboard.press(TOP_ROW["1"])
    events += keyboard.hold(ecodes.KEY_LEFTSHIFT, 0) + keyboard.type_digits("3456") + keyboard.enter()
    events += keyboard.type_digits(LIBRARY_CARD) + keyboard.enter()  # shift released: fine again
    assert decode(events) == [Dropped("non_digit"), LIBRARY_CARD]


def test_lock_keys_are_ignored(keyboard: Keyboard) -> None:
    events = keyboard.press(ecodes.KEY_NUMLOCK) + keyboard.type_digits("2012", KEYPAD)
    events += keyboard.press(ecodes.KEY_CAPSLOCK) + keyboard.type_digits("3456") + keyboard.enter()
    assert decode(events) == ["20123456"]


def test_spaces_are_stripped(keyboard: Keyboard) -> None:
    events = keyboard.type_digits("2012") + keyboard.press(ecodes.KEY_SPACE) + keyboard.type_digits("3456")
    assert decode(events + keyboard.enter()) == ["20123456"]


def test_bare_enter_is_ignored_and_short_or_long_lines_are_dropped(keyboard: Keyboard) -> None:
    events = keyboard.enter() + keyboard.type_digits("123") + keyboard.enter()
    events += keyboard.type_digits("1" * 33) + keyboard.enter()
    events += keyboard.type_digits("1" * 500) + keyboard.enter()  # bounded buffer
    assert decode(events) == [Dropped("too_short"), Dropped("too_long"), Dropped("too_long")]


def test_leftover_key_is_not_glued_onto_the_next_card(keyboard: Keyboard) -> None:
    events = keyboard.type_digits("7")  # someone pressed a key, no Enter
    keyboard.pause(5.0)
    events += keyboard.type_digits(LIBRARY_CARD) + keyboard.enter()
    assert decode(events) == [Dropped("stale_partial"), LIBRARY_CARD]


def test_modifier_whose_key_up_was_lost_is_forgotten_after_a_gap(keyboard: Keyboard) -> None:
    events = keyboard.hold(ecodes.KEY_RIGHTSHIFT, 1)  # e.g. unplugged before the key-up arrived
    keyboard.pause(5.0)
    events += keyboard.type_digits(LIBRARY_CARD) + keyboard.enter()
    assert decode(events) == [LIBRARY_CARD]


def test_slow_typing_within_the_gap_still_reads(keyboard: Keyboard) -> None:
    events: list[InputEvent] = []
    for digit in "20123456":
        keyboard.pause(0.5)
        events += keyboard.type_digits(digit)
    assert decode(events + keyboard.enter(), max_key_gap_seconds=1.0) == ["20123456"]


# --- device opening: only the failure path can run without /dev/uinput --------------------


def test_missing_device_path_raises_oserror(tmp_path) -> None:
    with pytest.raises(OSError):
        open_input_device(str(tmp_path / "event99"))


def test_unknown_device_name_raises_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        open_input_device("No Such Barcode Scanner 0000")


def test_missing_device_reports_disconnected_and_closes_promptly(events, tmp_path) -> None:
    reader = KeyboardWedgeReader("wedge", str(tmp_path / "event99"), retry_seconds=30.0)
    reader.start(events)
    try:
        fault = events.next()
        assert isinstance(fault, ReaderFault) and (fault.reader, fault.kind) == ("wedge", "disconnected")
    finally:
        started = time.monotonic()
        reader.close()
    assert time.monotonic() - started < 10  # a hang guard: far below the 30 s retry
    events.assert_empty()
