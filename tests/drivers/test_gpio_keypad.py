"""Matrix keypad: scanning through mock pins wired as a key matrix, debounce on a fake clock."""

from __future__ import annotations

import pytest
from gpiozero import DigitalInputDevice

from drivers.base import KeyPress
from drivers.readers.matrix_keypad import (
    DROP_UNMAPPED_KEY,
    KEYMAP_4X3,
    KeyDebouncer,
    MatrixKeypad,
)
from tests.drivers.gpio_support import KeypadMatrix

ROWS = [5, 6, 13, 19]
COLS_4X3 = [12, 16, 20]
COLS_4X4 = [12, 16, 20, 21]
DEBOUNCE = 0.03
SCAN = 0.01


def make_keypad(factory, cols, keymap=None):
    """The matrix first (it owns the row pins), then the keypad on the same pins."""
    matrix = KeypadMatrix(factory, ROWS, cols)
    keypad = MatrixKeypad(
        "pinpad", ROWS, cols, keymap=keymap, pin_factory=factory, debounce_s=DEBOUNCE, scan_interval_s=SCAN
    )
    return matrix, keypad


@pytest.fixture
def keypad_4x3(mock_factory):
    matrix, keypad = make_keypad(mock_factory, COLS_4X3)
    yield matrix, keypad
    keypad.close()


def scan_for(keypad: MatrixKeypad, start: float, seconds: float) -> list[str]:
    """Scan every SCAN seconds from `start` for `seconds`; the keys that were emitted."""
    keys: list[str] = []
    steps = round(seconds / SCAN)
    for i in range(steps + 1):
        keys += [press.key for press in keypad.scan(start + i * SCAN)]
    return keys


def test_rows_idle_high_and_columns_pulled_up(keypad_4x3, mock_factory) -> None:
    assert all(mock_factory.pin(pin).state for pin in ROWS)
    assert all(mock_factory.pin(pin).state for pin in COLS_4X3)
    assert all(mock_factory.pin(pin).function == "output" for pin in ROWS)


def test_held_key_is_emitted_once(keypad_4x3) -> None:
    matrix, keypad = keypad_4x3
    matrix.press(1, 1)  # '5'
    assert scan_for(keypad, 0.0, 0.5) == ["5"]
    assert keypad.stats.frames_ok == 1


def test_key_is_not_accepted_before_debounce_time(keypad_4x3) -> None:
    matrix, keypad = keypad_4x3
    matrix.press(0, 0)
    assert keypad.scan(0.0) == []
    assert keypad.scan(0.02) == []
    assert keypad.scan(0.03) == [KeyPress(key="1", reader="pinpad")]


def test_one_scan_glitch_is_rejected(keypad_4x3) -> None:
    matrix, keypad = keypad_4x3
    matrix.press(2, 2)
    assert keypad.scan(0.0) == []
    matrix.release(2, 2)
    assert scan_for(keypad, SCAN, 0.2) == []
    assert keypad.stats.frames_ok == 0


def test_bouncy_press_restarts_debounce(keypad_4x3) -> None:
    matrix, keypad = keypad_4x3
    matrix.press(3, 0)  # '*'
    keypad.scan(0.00)
    keypad.scan(0.01)
    matrix.release(3, 0)
    keypad.scan(0.02)  # bounce: the run of 'pressed' readings is broken
    matrix.press(3, 0)
    assert keypad.scan(0.03) == []  # 0.03 since the first reading, but not consecutive
    assert keypad.scan(0.05) == []
    assert keypad.scan(0.06) == [KeyPress(key="*", reader="pinpad")]


def test_press_release_press_gives_two_presses_and_short_release_gives_one(keypad_4x3) -> None:
    matrix, keypad = keypad_4x3
    matrix.press(3, 2)  # '#'
    keys = scan_for(keypad, 0.0, 0.1)
    matrix.release(3, 2)
    keypad.scan(0.11)  # a release glitch of one scan does not end the press
    matrix.press(3, 2)
    keys += scan_for(keypad, 0.12, 0.1)
    matrix.release(3, 2)
    keys += scan_for(keypad, 0.23, 0.1)  # a real release
    matrix.press(3, 2)
    keys += scan_for(keypad, 0.34, 0.1)
    assert keys == ["#", "#"]


def test_every_key_of_4x3_maps_through_the_matrix(keypad_4x3) -> None:
    matrix, keypad = keypad_4x3
    now, seen = 0.0, []
    for r in range(4):
        for c in range(3):
            matrix.press(r, c)
            seen += scan_for(keypad, now, 0.1)
            matrix.release(r, c)
            seen += scan_for(keypad, now + 0.11, 0.1)
            now += 0.25
    assert "".join(seen) == "".join(KEYMAP_4X3)


def test_two_keys_in_different_columns_are_both_reported(keypad_4x3) -> None:
    matrix, keypad = keypad_4x3
    matrix.press(0, 0)
    matrix.press(2, 1)
    assert sorted(scan_for(keypad, 0.0, 0.1)) == ["1", "8"]


def test_4x4_letter_keys_are_counted_not_emitted(mock_factory) -> None:
    matrix, keypad = make_keypad(mock_factory, COLS_4X4)
    try:
        matrix.press(0, 3)  # 'A'
        assert scan_for(keypad, 0.0, 0.1) == []
        assert keypad.stats.drop_reasons == {DROP_UNMAPPED_KEY: 1}
        matrix.release(0, 3)
        matrix.press(3, 2)
        assert scan_for(keypad, 0.2, 0.1) == ["#"]
    finally:
        keypad.close()


def test_custom_4x4_keymap_can_map_a_letter_to_submit(mock_factory) -> None:
    keymap = ("123A", "456B", "789C", "*0##")
    matrix, keypad = make_keypad(mock_factory, COLS_4X4, keymap)
    try:
        matrix.press(3, 3)
        assert scan_for(keypad, 0.0, 0.1) == ["#"]
    finally:
        keypad.close()


def test_keymap_shape_must_match_the_pins(mock_factory) -> None:
    with pytest.raises(ValueError):
        MatrixKeypad("pinpad", ROWS, COLS_4X3, keymap=("123", "456"), pin_factory=mock_factory)
    with pytest.raises(ValueError):
        MatrixKeypad("pinpad", ROWS, COLS_4X3, keymap=KEYMAP_4X3[:3] + ("*0#D",), pin_factory=mock_factory)


def test_debouncer_zero_accepts_a_single_reading() -> None:
    debouncer = KeyDebouncer(0.0)
    assert debouncer.update((0, 0), True, 5.0) is True
    assert debouncer.update((0, 0), True, 5.01) is False


def test_background_scanner_emits_to_the_sink(keypad_4x3, events) -> None:
    """Real clock: the scan thread must pick up a held key within the wait."""
    matrix, keypad = keypad_4x3
    keypad.start(events)
    matrix.press(1, 2)
    assert events.next() == KeyPress(key="6", reader="pinpad")


def test_close_releases_all_pins(mock_factory) -> None:
    keypad = MatrixKeypad("pinpad", ROWS, COLS_4X3, pin_factory=mock_factory)
    keypad.start(lambda event: None)
    keypad.close()
    for pin in ROWS + COLS_4X3:
        DigitalInputDevice(pin, pin_factory=mock_factory).close()  # raises if still held
