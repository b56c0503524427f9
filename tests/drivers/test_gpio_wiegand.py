"""Wiegand: the pure decoder with a fake clock, and the reader end-to-end through mock pins."""

from __future__ import annotations

import logging
import time

import pytest
from gpiozero import DigitalInputDevice

from drivers.base import CardRead, KeyPress
from drivers.readers.wiegand import (
    DROP_BAD_KEYCODE,
    DROP_BIT_COUNT,
    DROP_EVEN_PARITY,
    DROP_NIBBLE_MISMATCH,
    DROP_ODD_PARITY,
    WiegandDecoder,
    WiegandReader,
)
from tests.drivers.gpio_support import pulse_wiegand

D0, D1 = 17, 27
GAP = 0.025
BIT_SPACING = 0.002

# Worked by hand: facility 123 = 01111011, card 45678 = 1011001001101110.
# Bits 1-12 hold nine 1s -> even parity bit 1; bits 13-24 hold six 1s -> odd parity bit 1.
H10301_123_45678 = "1" + "01111011" + "1011001001101110" + "1"
# Facility 1234 = 0000010011010010 (five 1s -> even parity 1),
# card 56789 = 1101110111010101 (eleven 1s -> odd parity 0).
H10306_1234_56789 = "1" + "0000010011010010" + "1101110111010101" + "0"


def bits(text: str) -> list[int]:
    return [int(ch) for ch in text]


def with_parity(data: str) -> list[int]:
    """Wrap data bits in Wiegand parity: even over the first half, odd over the second."""
    half = len(data) // 2
    lead = data[:half].count("1") % 2
    trail = 1 - data[half:].count("1") % 2
    return bits(f"{lead}{data}{trail}")


def h10301(facility: int, card: int) -> list[int]:
    return with_parity(f"{facility:08b}{card:016b}")


def h10306(facility: int, card: int) -> list[int]:
    return with_parity(f"{facility:016b}{card:016b}")


def flip(frame: list[int], index: int) -> list[int]:
    changed = list(frame)
    changed[index] ^= 1
    return changed


def decode(frame: list[int], decoder: WiegandDecoder | None = None):
    """Feed a frame bit by bit at 2 ms spacing, then flush after the gap."""
    decoder = decoder or WiegandDecoder("door", gap_s=GAP)
    now = 100.0
    for bit in frame:
        assert decoder.feed(bit, now) is None
        now += BIT_SPACING
    return decoder.flush_if_idle(now + GAP), decoder


# --- pure decoder: cards ----------------------------------------------------------------


def test_hand_worked_26_bit_frame_decodes_to_facility_and_card() -> None:
    event, decoder = decode(bits(H10301_123_45678))
    assert event == CardRead(card="12345678", reader="door")
    assert decoder.stats.frames_ok == 1
    assert decoder.stats.frames_dropped == 0


def test_hand_worked_34_bit_frame_decodes_to_facility_and_card() -> None:
    event, _ = decode(bits(H10306_1234_56789))
    assert event == CardRead(card="0123456789", reader="door")


@pytest.mark.parametrize(
    "facility, card, expected", [(0, 0, "00000000"), (255, 65535, "25565535"), (1, 2, "00100002")]
)
def test_26_bit_zero_padding_and_limits(facility: int, card: int, expected: str) -> None:
    assert decode(h10301(facility, card))[0] == CardRead(card=expected, reader="door")


@pytest.mark.parametrize(
    "facility, card, expected", [(0, 0, "0000000000"), (65535, 65535, "6553565535"), (7, 42, "0000700042")]
)
def test_34_bit_zero_padding_and_limits(facility: int, card: int, expected: str) -> None:
    assert decode(h10306(facility, card))[0] == CardRead(card=expected, reader="door")


@pytest.mark.parametrize(
    "frame, index, reason",
    [
        (bits(H10301_123_45678), 0, DROP_EVEN_PARITY),  # the even parity bit itself
        (bits(H10301_123_45678), 5, DROP_EVEN_PARITY),  # a facility bit
        (bits(H10301_123_45678), 12, DROP_EVEN_PARITY),  # last bit under even parity
        (bits(H10301_123_45678), 13, DROP_ODD_PARITY),  # first bit under odd parity
        (bits(H10301_123_45678), 25, DROP_ODD_PARITY),  # the odd parity bit itself
        (bits(H10306_1234_56789), 0, DROP_EVEN_PARITY),
        (bits(H10306_1234_56789), 16, DROP_EVEN_PARITY),
        (bits(H10306_1234_56789), 17, DROP_ODD_PARITY),
        (bits(H10306_1234_56789), 33, DROP_ODD_PARITY),
    ],
)
def test_parity_errors_are_dropped_with_reason(frame: list[int], index: int, reason: str) -> None:
    event, decoder = decode(flip(frame, index))
    assert event is None
    assert decoder.stats.frames_ok == 0
    assert decoder.stats.drop_reasons == {reason: 1}


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 9, 25, 27, 33, 35, 37, 64])
def test_wrong_bit_counts_are_dropped(count: int) -> None:
    event, decoder = decode([1, 0] * (count // 2) + [1] * (count % 2))
    assert event is None
    assert decoder.stats.drop_reasons == {DROP_BIT_COUNT: 1}


def test_runaway_noise_is_capped_and_dropped() -> None:
    decoder = WiegandDecoder("door", gap_s=GAP)
    event, _ = decode([1] * 500, decoder)
    assert event is None
    assert decoder.pending_bits == 0
    assert decoder.stats.drop_reasons == {DROP_BIT_COUNT: 1}


def test_dropped_card_frame_is_not_logged_as_a_number(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    decode(flip(h10301(123, 45678), 25))
    assert DROP_ODD_PARITY in caplog.text
    assert "45678" not in caplog.text and "12345678" not in caplog.text


# --- pure decoder: keypad bursts --------------------------------------------------------


@pytest.mark.parametrize("code, key", [(n, str(n)) for n in range(10)] + [(10, "*"), (11, "#")])
def test_4_bit_keypad_codes(code: int, key: str) -> None:
    assert decode(bits(f"{code:04b}"))[0] == KeyPress(key=key, reader="door")


@pytest.mark.parametrize("code, key", [(n, str(n)) for n in range(10)] + [(10, "*"), (11, "#")])
def test_8_bit_keypad_codes(code: int, key: str) -> None:
    frame = bits(f"{code ^ 0xF:04b}{code:04b}")
    assert decode(frame)[0] == KeyPress(key=key, reader="door")


def test_8_bit_star_is_hand_worked() -> None:
    assert decode(bits("01011010"))[0] == KeyPress(key="*", reader="door")


@pytest.mark.parametrize("frame", ["00010001", "11100000", "11111111", "00000000"])
def test_8_bit_nibble_mismatch_is_dropped(frame: str) -> None:
    event, decoder = decode(bits(frame))
    assert event is None
    assert decoder.stats.drop_reasons == {DROP_NIBBLE_MISMATCH: 1}


@pytest.mark.parametrize("frame", ["1100", "1101", "1110", "1111", "00111100", "00001111"])
def test_keycodes_12_to_15_are_dropped(frame: str) -> None:
    event, decoder = decode(bits(frame))
    assert event is None
    assert decoder.stats.drop_reasons == {DROP_BAD_KEYCODE: 1}


# --- pure decoder: the quiet gap ---------------------------------------------------------


def test_frame_is_not_finished_before_the_gap() -> None:
    decoder = WiegandDecoder("door", gap_s=GAP)
    for i, bit in enumerate(bits("0111")):
        decoder.feed(bit, 10.0 + i * BIT_SPACING)
    last = 10.0 + 3 * BIT_SPACING
    assert decoder.flush_if_idle(last + GAP - 0.001) is None
    assert decoder.pending_bits == 4
    assert decoder.flush_if_idle(last + GAP) == KeyPress(key="7", reader="door")
    assert decoder.idle_deadline() is None


def test_next_bit_after_the_gap_closes_the_previous_frame() -> None:
    decoder = WiegandDecoder("door", gap_s=GAP)
    decoder.feed(0, 1.0)
    decoder.feed(0, 1.002)
    decoder.feed(1, 1.004)
    decoder.feed(1, 1.006)
    finished = decoder.feed(1, 1.006 + GAP + 0.01)  # first bit of the next burst
    assert finished == KeyPress(key="3", reader="door")
    assert decoder.pending_bits == 1


def test_a_pause_inside_a_frame_splits_it_into_two_bad_frames() -> None:
    decoder = WiegandDecoder("door", gap_s=GAP)
    frame, now = h10301(1, 1), 0.0
    for i, bit in enumerate(frame):
        if i == 13:
            now += GAP * 2
        assert decoder.feed(bit, now) is None
        now += BIT_SPACING
    assert decoder.flush_if_idle(now + GAP) is None
    assert decoder.stats.frames_ok == 0
    assert decoder.stats.drop_reasons == {DROP_BIT_COUNT: 2}


# --- the reader through mock pins --------------------------------------------------------


@pytest.fixture
def reader(mock_factory, fake_monotonic, events):
    """A started reader on the fake clock; `events` and `fake_monotonic` come from conftest."""
    device = WiegandReader("front", D0, D1, pin_factory=mock_factory, gap_s=GAP, monotonic=fake_monotonic)
    device.start(events)
    yield device
    device.close()


def test_reader_decodes_a_card_from_pin_pulses(mock_factory, reader, fake_monotonic, events) -> None:
    pulse_wiegand(mock_factory, D0, D1, h10301(123, 45678), fake_monotonic)
    events.assert_empty()  # not finished: the clock has not passed the gap
    fake_monotonic.advance(GAP)
    reader.poll()
    assert events.next() == CardRead(card="12345678", reader="front")
    assert reader.stats.frames_ok == 1


def test_reader_decodes_keypad_bursts_from_pin_pulses(mock_factory, reader, fake_monotonic, events) -> None:
    for frame in ("1011", "01011010", "1010", "01001011"):  # #, * (8-bit), *, # (8-bit)
        pulse_wiegand(mock_factory, D0, D1, bits(frame), fake_monotonic)
        fake_monotonic.advance(GAP)
        reader.poll()
    keys = [events.next().key for _ in range(4)]
    assert keys == ["#", "*", "*", "#"]


def test_reader_counts_a_bad_frame_and_emits_nothing(mock_factory, reader, fake_monotonic, events) -> None:
    pulse_wiegand(mock_factory, D0, D1, flip(h10306(1234, 56789), 20), fake_monotonic)
    fake_monotonic.advance(GAP)
    reader.poll()
    events.assert_empty()
    assert reader.stats.drop_reasons == {DROP_ODD_PARITY: 1}


def test_reader_timer_thread_ends_the_frame_on_its_own(mock_factory, events) -> None:
    """Real clock and a short gap: the reader's own thread must flush without poll()."""
    device = WiegandReader("side", D0, D1, pin_factory=mock_factory, gap_s=0.01, monotonic=time.monotonic)
    device.start(events)
    try:
        pulse_wiegand(mock_factory, D0, D1, h10301(5, 4321))
        assert events.next() == CardRead(card="00504321", reader="side")
    finally:
        device.close()


def test_close_releases_both_pins(mock_factory) -> None:
    device = WiegandReader("front", D0, D1, pin_factory=mock_factory)
    device.start(lambda event: None)
    device.close()
    for pin in (D0, D1):
        DigitalInputDevice(pin, pin_factory=mock_factory).close()  # raises if still held
