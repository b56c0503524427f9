"""A character LCD for doors without a screen: HD44780 16x2 or 20x4 behind a PCF8574 I2C backpack.

Why not RPLCD: its CharLCD opens `SMBus(port)` itself in a private method, so a test cannot hand
it a bus, and it skips bytes its own cache thinks unchanged (the bytes sent are then not what a
test can predict). The HD44780's 4-bit protocol over a PCF8574 is small, so it is spoken here
over any smbus-like object with `write_byte(address, value)`: smbus2's SMBus on the Pi
(`open_i2c_bus`), a fake that records every byte in the tests.

The HD44780's character ROM (A00, the common one) has ASCII from 0x20 to 0x7D, but no accented
lowercase letters, and its 0x5C and 0x7E are a yen sign and an arrow. Text is mapped first
(`lcd_text`: ë -> e, é -> e, ĳ -> ij, € -> EUR, ...), then laid out: Dutch first, English on the
lines left if it fits whole there, word-wrapped, cut with ".." when even the Dutch is too long.

A display that is unplugged (OSError from the bus) is reported through `on_fault`, once until
it works again, and never raised: the door goes on without it. The next message after a fault
starts with the init sequence again, so a display plugged back in shows text, not garbage.
"""

from __future__ import annotations

import logging
import textwrap
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)

# PCF8574 output bits on the common backpacks: D7 D6 D5 D4 BL EN RW RS.
RS_DATA = 0x01
ENABLE = 0x04
BACKLIGHT = 0x08

# HD44780 instructions
CLEAR = 0x01
ENTRY_MODE_LEFT = 0x06  # cursor moves right, no display shift
DISPLAY_ON = 0x0C  # display on, cursor off, no blink
FUNCTION_4BIT_2LINE = 0x28  # 4-bit bus, two (or four) lines, 5x8 dots
SET_DDRAM = 0x80

CUT = ".."  # the end of a message cut to fit: ASCII, so every ROM shows it
SIZES = ((16, 2), (20, 4))  # cols, rows

# Characters with no ASCII letter to lose their accent to (NFKD leaves them whole).
_SPECIAL: dict[str, str] = {
    "€": "EUR",
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ı": "i",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "‐": "-",
    "…": "...",
    "•": "*",
    "·": ".",
    "×": "x",
    # A00 shows 0x5C as a yen sign and 0x7E as an arrow: never send those for these.
    "\\": "/",
    "~": "-",
    "\u00a0": " ",
    "\t": " ",
    "\n": " ",
    "\r": " ",
}


def lcd_text(text: str) -> str:
    """`text` in the characters an HD44780 (ROM A00) shows as themselves: 0x20-0x7D minus '\\'.

    Accents go (ë -> e, É -> E), ligatures open up (ĳ -> ij), € becomes EUR, typographic quotes
    and dashes become ASCII ones; anything else unknown becomes '?', never dropped, so a reader
    sees that something is there."""
    out: list[str] = []
    for char in text:
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
            continue
        if 0x20 <= ord(char) <= 0x7D:
            out.append(char)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if plain and all(0x20 <= ord(c) <= 0x7D and c != "\\" for c in plain):
            out.append(plain)  # é -> e, ĳ -> ij, ﬁ -> fi, ² -> 2
        else:
            out.append("?")
    return "".join(out)


def _wrap(text: str, cols: int) -> list[str]:
    return textwrap.wrap(lcd_text(text), cols, break_on_hyphens=False) or [""]


def _cut(lines: list[str], rows: int, cols: int) -> list[str]:
    """The first `rows` lines; when more were needed the last one ends in CUT after its last
    whole word that leaves room for it (mid-word only when one word fills the line)."""
    if len(lines) <= rows:
        return lines
    kept = lines[:rows]
    words = kept[-1].split(" ")
    while len(words) > 1 and len(" ".join(words)) + len(CUT) > cols:
        words.pop()
    kept[-1] = " ".join(words)[: cols - len(CUT)].rstrip(" ,.;:") + CUT
    return kept


def layout(nl: str, en: str, cols: int, rows: int) -> list[str]:
    """The display's lines for a message: Dutch first, word-wrapped; English below it only when
    the whole English text fits on the lines left (half a translation helps nobody); Dutch too
    long for the display is cut with CUT. Always `rows` lines of exactly `cols` characters."""
    dutch = _wrap(nl, cols)
    english = _wrap(en, cols) if en.strip() else []
    if len(dutch) + len(english) <= rows and english != dutch:
        lines = dutch + english
    else:
        lines = _cut(dutch, rows, cols)
    lines += [""] * (rows - len(lines))
    return [line.ljust(cols)[:cols] for line in lines]


class I2cBus(Protocol):
    """What the display needs of an I2C bus: smbus2.SMBus has it."""

    def write_byte(self, i2c_addr: int, value: int) -> None: ...


def open_i2c_bus(port: int) -> I2cBus:
    """The Pi's I2C bus `port` (/dev/i2c-<port>) through smbus2; raises OSError when absent."""
    from smbus2 import SMBus

    bus: I2cBus = SMBus(port)
    return bus


def row_addresses(cols: int) -> tuple[int, ...]:
    """DDRAM address of each row's first column: rows 3 and 4 continue rows 1 and 2."""
    return (0x00, 0x40, cols, 0x40 + cols)


class CharacterLcd:
    """One HD44780 display; `show_*` is slow (hundreds of I2C writes): call it off the door
    thread. `open_bus` gives the bus (`lambda: open_i2c_bus(1)`, or a test's fake)."""

    def __init__(
        self,
        open_bus: Callable[[], I2cBus],
        address: int = 0x27,
        cols: int = 16,
        rows: int = 2,
        *,
        on_fault: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (cols, rows) not in SIZES:
            raise ValueError(f"an LCD of {cols}x{rows} is not supported: 16x2 or 20x4")
        self._open_bus = open_bus  # called at the first write, again after it failed
        self._bus: I2cBus | None = None
        self.address = address
        self.cols = cols
        self.rows = rows
        self._on_fault = on_fault
        self._sleep = sleep
        self._ready = False  # the init sequence has run since the last fault
        self.faulty = False

    # --- what the door's display side calls ---------------------------------------------------
    def show_message(self, nl: str, en: str) -> bool:
        """Show a two-language message; False (and a fault reported once) when the display
        could not be reached."""
        return self.show_lines(layout(nl, en, self.cols, self.rows))

    def show_lines(self, lines: Sequence[str]) -> bool:
        """Write each row in place (no clear: no flicker); lines are mapped and fitted here."""
        fitted = [lcd_text(line).ljust(self.cols)[: self.cols] for line in lines[: self.rows]]
        fitted += [" " * self.cols] * (self.rows - len(fitted))
        try:
            if not self._ready:
                self._initialise()
            for address, line in zip(row_addresses(self.cols), fitted, strict=False):
                self._instruction(SET_DDRAM | address)
                for char in line.encode("ascii"):
                    self._data(char)
        except OSError as exc:
            self._ready = False
            self._fault(f"display at I2C 0x{self.address:02x} not reachable: {exc}")
            return False
        if self.faulty:
            self.faulty = False
            log.info("display at I2C 0x%02x works again", self.address)
        return True

    # --- the HD44780 protocol -----------------------------------------------------------------
    def _initialise(self) -> None:
        """Into 4-bit mode from any state (Hitachi datasheet, figure 24), then set up."""
        self._sleep(0.05)  # > 40 ms after power-up
        for pause in (0.0045, 0.0045, 0.00015):
            self._nibble(0x30, 0)
            self._sleep(pause)
        self._nibble(0x20, 0)  # 4-bit from here on
        self._instruction(FUNCTION_4BIT_2LINE)
        self._instruction(DISPLAY_ON)
        self._instruction(CLEAR)
        self._sleep(0.002)  # clear takes 1.52 ms
        self._instruction(ENTRY_MODE_LEFT)
        self._ready = True

    def _instruction(self, value: int) -> None:
        self._byte(value, 0)

    def _data(self, value: int) -> None:
        self._byte(value, RS_DATA)

    def _byte(self, value: int, mode: int) -> None:
        self._nibble(value & 0xF0, mode)
        self._nibble((value << 4) & 0xF0, mode)

    def _nibble(self, high_bits: int, mode: int) -> None:
        """Present 4 bits with EN high, then drop EN: the HD44780 latches on the falling edge.
        An I2C byte takes ~90 us at 100 kHz, longer than any command but clear needs."""
        bus = self._bus or self._open()
        bus.write_byte(self.address, high_bits | mode | BACKLIGHT | ENABLE)
        bus.write_byte(self.address, high_bits | mode | BACKLIGHT)

    def _open(self) -> I2cBus:
        self._bus = self._open_bus()
        return self._bus

    def _fault(self, detail: str) -> None:
        if self.faulty:
            return  # once per outage, not once per message
        self.faulty = True
        log.warning("%s", detail)
        if self._on_fault is not None:
            try:
                self._on_fault(detail)
            except Exception:
                log.exception("display fault listener failed")
