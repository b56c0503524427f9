"""Serial barcode scanner: ASCII digits terminated by CR, LF or CRLF.

`check_card_line` is the one validation for typed-in card numbers; the keyboard wedge reader
uses it too. It only strips whitespace: normalising card numbers is the controller's job.
"""
from __future__ import annotations

import time
from functools import partial

from drivers.readers.serial_port import (
    DecodeResult,
    Dropped,
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

    A line that grows past twice `max_digits` bytes without a terminator is dropped as
    "too_long" once, and the rest of it, up to the next terminator, is skipped, so memory stays
    bounded on a line full of noise.
    """

    def __init__(self, min_digits: int = MIN_CARD_DIGITS, max_digits: int = MAX_CARD_DIGITS) -> None:
        self._min_digits = min_digits
        self._max_digits = max_digits
        self._max_line_bytes = 2 * max_digits
        self._line = bytearray()
        self._overlong = False

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
            elif len(self._line) >= self._max_line_bytes:
                self._line.clear()
                self._overlong = True
                results.append(Dropped("too_long"))
            else:
                self._line.append(byte)
        return results


class SerialBarcodeReader(StreamCardReader[bytes]):
    """A barcode scanner on a serial port: emits each scanned card, reconnects if unplugged.

    An identical line within `repeat_seconds` of the last one is ignored (double scans).
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
    ) -> None:
        super().__init__(
            name,
            open_source=partial(SerialByteSource, port, baudrate),
            decoder=BarcodeLineDecoder(min_digits, max_digits),
            repeat_filter=RepeatFilter(repeat_seconds, monotonic),
            retry_seconds=retry_seconds,
        )
