"""RDM6300 125 kHz reader (EM4100 cards) on a 9600 8N1 UART.

Frame: STX 0x02, 10 ASCII hex (2 version + 8 tag id), 2 ASCII hex checksum = XOR of the 5
data bytes, ETX 0x03. The card number is the 32-bit tag id as 10-digit zero-padded decimal,
the way these cards are printed (data 67003B51C6 -> "0003887558").
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

STX = 0x02
ETX = 0x03
PAYLOAD_LENGTH = 12  # 10 data hex chars + 2 checksum hex chars
_HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")


def parse_em4100_payload(payload: bytes) -> DecodeResult:
    """Check the 12 hex chars between STX and ETX; return the card digits or why they failed."""
    if len(payload) != PAYLOAD_LENGTH:
        return Dropped("bad_length")
    if not all(byte in _HEX_DIGITS for byte in payload):
        return Dropped("non_hex")
    data = bytes.fromhex(payload[:10].decode("ascii"))
    expected = int(payload[10:].decode("ascii"), 16)
    checksum = 0
    for byte in data:
        checksum ^= byte
    if checksum != expected:
        return Dropped("bad_checksum")
    tag_id = int.from_bytes(data[1:], "big")
    return f"{tag_id:010d}"


class Em4100FrameDecoder:
    """Pure byte-stream decoder: feed it bytes as they arrive, get card digits and drop reasons.

    Drop reasons: "noise" (a run of bytes outside a frame, counted once per run), "stx_restart"
    (STX inside an unfinished frame), "missing_etx" (12 chars then STX), "too_long" (12 chars
    then something other than ETX), "too_short" (ETX early), "non_hex", "bad_checksum",
    "stale_partial" (a frame unfinished when the stream paused, see `resync`). After a drop,
    bytes up to the next STX belong to the broken frame and are skipped silently. A frame never
    holds more than PAYLOAD_LENGTH bytes, so memory is bounded by the format itself.
    """

    def __init__(self) -> None:
        self._frame: bytearray | None = None  # None: not inside a frame
        self._skipping = False  # rest of a broken frame or a noise run already counted

    def feed(self, chunk: bytes) -> list[DecodeResult]:
        results: list[DecodeResult] = []
        for byte in chunk:
            result = self._feed_byte(byte)
            if result is not None:
                results.append(result)
        return results

    def resync(self) -> list[DecodeResult]:
        """The stream paused: an unfinished frame is dropped, and noise after the pause is a
        new run (counted again)."""
        unfinished = self._frame
        self._frame, self._skipping = None, False
        return [] if unfinished is None else [Dropped(STALE_PARTIAL)]

    def _feed_byte(self, byte: int) -> DecodeResult | None:
        if byte == STX:
            return self._start_frame()
        if self._frame is None:
            if self._skipping:
                return None
            self._skipping = True
            return Dropped("noise")
        if byte == ETX:
            payload, self._frame = self._frame, None
            if len(payload) < PAYLOAD_LENGTH:
                return Dropped("too_short")
            return parse_em4100_payload(bytes(payload))
        if len(self._frame) == PAYLOAD_LENGTH:
            return self._abandon("too_long")
        if byte not in _HEX_DIGITS:
            return self._abandon("non_hex")
        self._frame.append(byte)
        return None

    def _start_frame(self) -> DecodeResult | None:
        unfinished = self._frame
        self._frame = bytearray()
        self._skipping = False
        if unfinished is None:
            return None
        return Dropped("missing_etx" if len(unfinished) == PAYLOAD_LENGTH else "stx_restart")

    def _abandon(self, reason: str) -> Dropped:
        self._frame = None
        self._skipping = True
        return Dropped(reason)


class Rdm6300Reader(StreamCardReader[bytes]):
    """An RDM6300 on a serial port: emits each presented card once, reconnects if unplugged.

    A held card repeats its frame ~10x/s; it is emitted again only after no frame of it arrived
    for `holdoff_seconds` (measured with the injected `monotonic` clock). A pause of more than
    `line_gap_seconds` (on `gap_monotonic`) ends an unfinished frame.
    """

    def __init__(
        self,
        name: str,
        port: str,
        *,
        baudrate: int = 9600,
        holdoff_seconds: float = 1.0,
        monotonic: Monotonic = time.monotonic,
        retry_seconds: float = 2.0,
        line_gap_seconds: float = LINE_GAP_SECONDS,
        gap_monotonic: Monotonic = time.monotonic,
    ) -> None:
        super().__init__(
            name,
            open_source=partial(SerialByteSource, port, baudrate),
            decoder=GapResync(Em4100FrameDecoder(), line_gap_seconds, gap_monotonic),
            repeat_filter=RepeatFilter(holdoff_seconds, monotonic),
            retry_seconds=retry_seconds,
        )
