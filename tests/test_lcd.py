"""The character LCD (drivers/lcd.py) through a fake I2C bus that records every byte it gets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.config.display import LcdSettings
from controller.domain.events import OutputFaultReason
from controller.domain.messages import PROMPT_CARD, PROMPT_PIN
from controller.domain.modes import DoorMode
from controller.door.lcd_output import LcdOutput
from controller.door.ports import DoorSnapshot, Phase
from drivers.lcd import (
    BACKLIGHT,
    CUT,
    ENABLE,
    RS_DATA,
    CharacterLcd,
    layout,
    lcd_text,
)

ADDRESS = 0x27


class RecordingBus:
    """An smbus-like bus: every write_byte as (address, byte); `fail` makes it raise."""

    def __init__(self) -> None:
        self.written: list[tuple[int, int]] = []
        self.fail: OSError | None = None

    def write_byte(self, i2c_addr: int, value: int) -> None:
        if self.fail is not None:
            raise self.fail
        self.written.append((i2c_addr, value))


def decode(written: list[tuple[int, int]], init: bool = False) -> list[tuple[str, int]]:
    """The HD44780 transfers in the recorded bytes: with `init`, the four lone nibbles of the
    switch to 4-bit mode as ('nibble', bits), then ('cmd' | 'data', byte) from nibble pairs.

    Each nibble is two writes, EN high then EN low, with the same data and backlight on."""
    nibbles = []
    for (_, high), (_, low) in zip(written[::2], written[1::2], strict=True):
        assert high & ENABLE and not low & ENABLE and high & ~ENABLE == low
        assert low & BACKLIGHT
        nibbles.append((low & 0xF0, low & RS_DATA))
    transfers: list[tuple[str, int]] = []
    if init:
        transfers = [("nibble", bits >> 4) for bits, _ in nibbles[:4]]
        nibbles = nibbles[4:]
    for (high, mode), (low, _) in zip(nibbles[::2], nibbles[1::2], strict=True):
        transfers.append(("data" if mode else "cmd", high | low >> 4))
    return transfers


def text_of(transfers: list[tuple[str, int]]) -> dict[int, str]:
    """DDRAM address -> the characters written from there."""
    rows: dict[int, str] = {}
    address = None
    for kind, value in transfers:
        if kind == "cmd" and value & 0x80:
            address = value & 0x7F
            rows[address] = ""
        elif kind == "data":
            assert address is not None
            rows[address] += chr(value)
    return rows


def make(cols: int = 16, rows: int = 2) -> tuple[CharacterLcd, RecordingBus, list[str]]:
    bus = RecordingBus()
    faults: list[str] = []
    lcd = CharacterLcd(lambda: bus, ADDRESS, cols, rows, on_fault=faults.append, sleep=lambda s: None)
    return lcd, bus, faults


def test_first_message_sends_the_init_sequence_then_each_line_at_its_ddram_address() -> None:
    lcd, bus, _ = make()
    assert lcd.show_message("Welkom", "Welcome")
    assert {address for address, _ in bus.written} == {ADDRESS}
    transfers = decode(bus.written, init=True)
    assert transfers[:4] == [("nibble", 3), ("nibble", 3), ("nibble", 3), ("nibble", 2)]
    assert transfers[4:8] == [("cmd", 0x28), ("cmd", 0x0C), ("cmd", 0x01), ("cmd", 0x06)]
    assert transfers[8] == ("cmd", 0x80)  # row 1
    assert transfers[8 + 17] == ("cmd", 0xC0)  # row 2 after 16 characters
    assert text_of(transfers) == {0x00: "Welkom          ", 0x40: "Welcome         "}
    assert len(bus.written) == (4 + 4 * 2 + 2 * (1 + 16) * 2) * 2


def test_later_messages_skip_the_init_and_overwrite_each_line_in_place() -> None:
    lcd, bus, _ = make()
    lcd.show_message("Welkom", "Welcome")
    bus.written.clear()
    lcd.show_message("Pas onbekend", "Card not known")
    transfers = decode(bus.written)
    assert transfers[0] == ("cmd", 0x80)
    assert ("cmd", 0x01) not in transfers  # no clear: no flicker
    assert text_of(transfers) == {0x00: "Pas onbekend    ", 0x40: "Card not known  "}


def test_a_20x4_display_uses_its_four_row_addresses() -> None:
    lcd, bus, _ = make(20, 4)
    lcd.show_message("Toets uw pincode en #", "Enter your PIN and #")
    rows = text_of(decode(bus.written, init=True))
    assert sorted(rows) == [0x00, 0x14, 0x40, 0x54]
    assert [rows[a].rstrip() for a in (0x00, 0x40, 0x14, 0x54)] == [
        "Toets uw pincode en",
        "#",
        "Enter your PIN and #",
        "",
    ]


def test_dutch_and_english_each_on_a_line_when_both_fit() -> None:
    assert layout("Welkom", "Welcome", 16, 2) == ["Welkom".ljust(16), "Welcome".ljust(16)]


def test_dutch_that_needs_both_lines_pushes_the_english_off() -> None:
    assert layout("Toets uw pincode en #", "Enter your PIN and #", 16, 2) == [
        "Toets uw pincode",
        "en #".ljust(16),
    ]


def test_english_is_shown_only_when_it_fits_whole() -> None:
    lines = layout("Pincode onjuist, probeer opnieuw", "Wrong PIN, try again", 20, 4)
    assert [line.rstrip() for line in lines] == [
        "Pincode onjuist,",
        "probeer opnieuw",
        "Wrong PIN, try again",
        "",
    ]
    lines = layout(
        "Pas niet aangemeld voor Open+. Vraag de bibliotheek", "Card not signed up for Open+", 20, 4
    )
    assert [line.rstrip() for line in lines] == [
        "Pas niet aangemeld",
        "voor Open+. Vraag de",
        "bibliotheek",
        "",
    ]


def test_a_message_longer_than_the_display_is_wrapped_and_cut_with_a_clear_ending() -> None:
    lines = layout("Deze pas is als verloren gemeld. Vraag de bibliotheek", "", 16, 2)
    assert lines == ["Deze pas is als ", "verloren" + CUT + " " * 6]
    assert all(len(line) == 16 for line in lines)


def test_dutch_characters_are_mapped_not_dropped() -> None:
    assert lcd_text("Geënt café, ijs en ĳs: € 5") == "Geent cafe, ijs en ijs: EUR 5"
    assert lcd_text("Één, twee… „dáár” – zó") == 'Een, twee... "daar" - zo'
    assert lcd_text("Straße, Ærø, naïef, çà") == "Strasse, AEro, naief, ca"
    assert lcd_text("a\\b~c") == "a/b-c"  # A00 shows 0x5C as yen and 0x7E as an arrow
    assert lcd_text("日本") == "??"  # nothing sensible: a mark, not silence


def test_mapped_characters_reach_the_bus_as_plain_ascii() -> None:
    lcd, bus, _ = make()
    lcd.show_message("Geënt", "€ 2")
    assert text_of(decode(bus.written, init=True)) == {0x00: "Geent".ljust(16), 0x40: "EUR 2".ljust(16)}
    assert all(0x20 <= value <= 0x7D for kind, value in decode(bus.written, init=True) if kind == "data")


def test_an_unplugged_display_is_reported_once_and_never_raised() -> None:
    lcd, bus, faults = make()
    assert lcd.show_message("Welkom", "Welcome")
    bus.fail = OSError(121, "Remote I/O error")
    assert lcd.show_message("Pas onbekend", "Card not known") is False
    assert lcd.show_message("Welkom", "Welcome") is False
    assert len(faults) == 1 and "0x27" in faults[0] and "Remote I/O error" in faults[0]
    assert lcd.faulty


def test_a_display_plugged_back_in_is_initialised_again() -> None:
    lcd, bus, faults = make()
    bus.fail = OSError(121, "Remote I/O error")
    assert lcd.show_message("Welkom", "Welcome") is False
    bus.fail = None
    assert lcd.show_message("Welkom", "Welcome")
    assert decode(bus.written, init=True)[:5] == [
        ("nibble", 3),
        ("nibble", 3),
        ("nibble", 3),
        ("nibble", 2),
        ("cmd", 0x28),
    ]
    assert not lcd.faulty and len(faults) == 1


def test_a_bus_that_cannot_be_opened_is_a_fault_too() -> None:
    faults: list[str] = []

    def no_bus() -> RecordingBus:
        raise FileNotFoundError(2, "No such file or directory: '/dev/i2c-1'")

    lcd = CharacterLcd(no_bus, ADDRESS, on_fault=faults.append, sleep=lambda s: None)
    assert lcd.show_message("Welkom", "Welcome") is False
    assert len(faults) == 1 and "/dev/i2c-1" in faults[0]


def test_only_16x2_and_20x4_are_accepted() -> None:
    with pytest.raises(ValueError, match="16x2 or 20x4"):
        CharacterLcd(RecordingBus, ADDRESS, 16, 4)


def snapshot(message, pin_keys: int = 0) -> DoorSnapshot:
    return DoorSnapshot(
        mode=DoorMode.OPENPLUS,
        phase=Phase.IDLE,
        relay_unlocked=False,
        door_open=False,
        alarm=None,
        message=message,
        pin_keys=pin_keys,
        at=datetime(2026, 11, 25, 19, 30, tzinfo=UTC),
    )


def test_the_door_side_writes_only_a_changed_message_and_reports_an_unplugged_display() -> None:
    bus = RecordingBus()
    faults: list[tuple[OutputFaultReason, str]] = []
    output = LcdOutput.from_settings(
        LcdSettings(size="16x2"),
        lambda r, d: faults.append((r, d)),
        open_bus=lambda: bus,
        sleep=lambda s: None,
    )
    output.update(snapshot(PROMPT_CARD))
    output.update(snapshot(PROMPT_PIN))
    output.update(snapshot(PROMPT_PIN, pin_keys=1))  # a key press: the same message
    output.run_pending()
    rows = text_of(decode(bus.written, init=True))
    assert rows == {0x00: "Toets uw pincode", 0x40: "en #".ljust(16)}
    assert sum(1 for kind, value in decode(bus.written, init=True) if (kind, value) == ("cmd", 0x80)) == 2
    bus.fail = OSError(121, "Remote I/O error")
    output.update(snapshot(PROMPT_CARD))
    output.run_pending()
    assert [reason for reason, _ in faults] == [OutputFaultReason.DISPLAY_UNREACHABLE]
