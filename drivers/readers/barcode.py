"""Serial barcode scanner: ASCII digits terminated by CR, LF or CRLF.

`check_card_line` is the one validation for typed-in card numbers; the keyboard wedge reader
uses it too. It only strips whitespace: normalising card numbers is the controller's job.
"""

from __future__ import annotations

import time
from functools import partial

from drivers.readers.serial_port import (
    LINE_GAP_SECONDS,
    STALE_PARTIAL,
    DecodeResult,
    Dropped,
    GapResync,
    Monotonic,
    RepeatFilter,
    SerialByteSource,
    StreamCardReader,
)

MIN_CARD_DIGITS = 4
MAX_CARD_DIGITS = 32
_LINE_ENDS = frozenset(b"\r\n")
_ASCII_DIGITS = frozenset("0123456789")


def check_card_line(
    line: str, min_digits: int = MIN_CARD_DIGITS, max_digits: int = MAX_CARD_DIGITS
) -> DecodeResult:
    """Return the line's digits with whitespace removed, or why it is not a card number.

    Drop reasons: "empty", "non_digit", "too_short", "too_long".
    """
    digits = "".join(line.split())
    if not digits:
        return Dropped("empty")
    if not set(digits) <= _ASCII_DIGITS:  # str.isdigit() would accept '²' and Arabic digits
        return Dropped("non_digit")
    if len(digits) < min_digits:
        return Dropped("too_short")
    if len(digits) > max_digits:
        return Dropped("too_long")
    return digits


class BarcodeLineDecoder:
    """Pure byte-stream decoder: splits on CR/LF (CRLF gives no empty line) and checks each line.

    The longest line kept is twice `max_digits` bytes (64 by default): the longest card number
    with room for the spaces or tabs some scanners put between digit groups (check_card_line
    strips them). A line that grows past that without a terminator is noise: it is dropped as
    "too_long" once, and the rest of it is skipped up to the next terminator or `resync()`
    (a pause in the stream, see GapResync), so memory stays bounded however long it runs, and
    one count stands for the whole run.
    """

    def __init__(self, min_digits: int = MIN_CARD_DIGITS, max_digits: int = MAX_CARD_DIGITS) -> None:
        self._min_digits = min_digits
        self._max_digits = max_digits
        self.max_line_bytes = 2 * max_digits
        self._line = bytearray()
        self._overlong = False

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished line held in memory (never more than `max_line_bytes`)."""
        return len(self._line)

    def resync(self) -> list[DecodeResult]:
        """The stream paused: a partial line is dropped (once), the next byte starts a new one."""
        counted = self._overlong or not self._line
        self._line.clear()
        self._overlong = False
        return [] if counted else [Dropped(STALE_PARTIAL)]

    def feed(self, chunk: bytes) -> list[DecodeResult]:
        results: list[DecodeResult] = []
        for byte in chunk:
            if byte in _LINE_ENDS:
                if self._line and not self._overlong:
                    text = self._line.decode("ascii", errors="replace")
                    results.append(check_card_line(text, self._min_digits, self._max_digits))
                self._line.clear()
                self._overlong = False
            elif self._overlong:
                continue
            elif len(self._line) >= self.max_line_bytes:
                self._line.clear()
                self._overlong = True
                results.append(Dropped("too_long"))
            else:
                self._line.append(byte)
        return results


class SerialBarcodeReader(StreamCardReader[bytes]):
    """A barcode scanner on a serial port: emits each scanned card, reconnects if unplugged.

    An identical line within `repeat_seconds` of the last one is ignored (double scans). A
    pause of more than `line_gap_seconds` (on `gap_monotonic`) ends a partial line, so noise
    without a line end does not spoil the next scan.
    """

    def __init__(
        self,
        name: str,
        port: str,
        *,
        baudrate: int = 9600,
        repeat_seconds: float = 1.0,
        monotonic: Monotonic = time.monotonic,
        retry_seconds: float = 2.0,
        min_digits: int = MIN_CARD_DIGITS,
        max_digits: int = MAX_CARD_DIGITS,
        line_gap_seconds: float = LINE_GAP_SECONDS,
        gap_monotonic: Monotonic = time.monotonic,
    ) -> None:
        super().__init__(
            name,
            open_source=partial(SerialByteSource, port, baudrate),
            decoder=GapResync(BarcodeLineDecoder(min_digits, max_digits), line_gap_seconds, gap_monotonic),
            repeat_filter=RepeatFilter(repeat_seconds, monotonic),
            retry_seconds=retry_seconds,
        )
