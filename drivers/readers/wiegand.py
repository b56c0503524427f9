"""Wiegand card readers and keypads on two GPIO lines (D0, D1).

The line protocol: both lines idle high; a 50-100 us low pulse on D0 sends a 0 bit, on D1 a
1 bit; bits come 1-2 ms apart and a frame ends when the lines stay quiet for a few ms. The
frame length says what was sent: 26 bits (H10301 card), 34 bits (H10306 card), 4 bits (one
keypad key) or 8 bits (one key as inverted nibble + nibble).

Two parts, so the decoding can be tested without threads or real time:
- `WiegandDecoder` is pure: bits and timestamps in, `CardRead`/`KeyPress` out, garbage
  counted in `ReaderStats` with a named reason.
- `WiegandReader` owns the gpiozero input devices and a small timer thread that ends a frame
  after the quiet gap.

Caveat: catching 50 us pulses from Python depends on the pin factory's edge callbacks
(lgpio on a Pi queues edges with timestamps); the mock pin factory proves the logic only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from drivers.base import CardRead, EventSink, InputEvent, KeyPress, ReaderStats

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]

DEFAULT_GAP_S = 0.025
MAX_FRAME_BITS = 64  # anything longer is noise; stop growing the buffer

# Drop reasons counted in ReaderStats.drop_reasons.
DROP_BIT_COUNT = "bad_bit_count"
DROP_EVEN_PARITY = "bad_even_parity"
DROP_ODD_PARITY = "bad_odd_parity"
DROP_NIBBLE_MISMATCH = "keypad_nibble_mismatch"
DROP_BAD_KEYCODE = "keypad_bad_keycode"

KEYCODES = "0123456789*#"  # index = keypad code; 12-15 are not keys


class WiegandFrameError(ValueError):
    """A frame that must not become a credential; `reason` is the counted drop reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _to_int(bits: Sequence[int]) -> int:
    value = 0
    for bit in bits:
        value = (value << 1) | (1 if bit else 0)
    return value


def _check_card_parity(bits: Sequence[int], half: int) -> None:
    """Leading bit: even parity over the first `half` data bits; trailing: odd over the rest."""
    if (bits[0] + sum(bits[1 : 1 + half])) % 2 != 0:
        raise WiegandFrameError(DROP_EVEN_PARITY)
    if (sum(bits[1 + half : -1]) + bits[-1]) % 2 != 1:
        raise WiegandFrameError(DROP_ODD_PARITY)


def _keycode_to_key(code: int, reader: str) -> KeyPress:
    if code >= len(KEYCODES):
        raise WiegandFrameError(DROP_BAD_KEYCODE)
    return KeyPress(key=KEYCODES[code], reader=reader)


def decode_frame(bits: Sequence[int], reader: str) -> CardRead | KeyPress:
    """Turn one complete frame into a credential, or raise WiegandFrameError with the reason."""
    bits = [1 if b else 0 for b in bits]
    count = len(bits)
    if count == 26:  # H10301: P | 8 facility | 16 card | P
        _check_card_parity(bits, 12)
        facility, card = _to_int(bits[1:9]), _to_int(bits[9:25])
        return CardRead(card=f"{facility:03d}{card:05d}", reader=reader)
    if count == 34:  # H10306: P | 16 facility | 16 card | P
        _check_card_parity(bits, 16)
        facility, card = _to_int(bits[1:17]), _to_int(bits[17:33])
        return CardRead(card=f"{facility:05d}{card:05d}", reader=reader)
    if count == 4:
        return _keycode_to_key(_to_int(bits), reader)
    if count == 8:
        inverted, code = _to_int(bits[:4]), _to_int(bits[4:])
        if inverted ^ code != 0xF:
            raise WiegandFrameError(DROP_NIBBLE_MISMATCH)
        return _keycode_to_key(code, reader)
    raise WiegandFrameError(DROP_BIT_COUNT)


class WiegandDecoder:
    """Collects bits with their arrival times and decodes a frame once the lines go quiet.

    Pure and single-threaded: the caller supplies `now` (monotonic seconds) and serialises calls.
    """

    def __init__(
        self, reader: str, *, gap_s: float = DEFAULT_GAP_S, stats: ReaderStats | None = None
    ) -> None:
        if gap_s <= 0:
            raise ValueError("gap_s must be positive")
        self.reader = reader
        self.gap_s = gap_s
        self.stats = stats if stats is not None else ReaderStats()
        self._bits: list[int] = []
        self._overflow = False
        self._last_bit_at: float | None = None

    @property
    def pending_bits(self) -> int:
        return len(self._bits)

    def idle_deadline(self) -> float | None:
        """When the current frame counts as finished, or None if no bits are pending."""
        if self._last_bit_at is None:
            return None
        return self._last_bit_at + self.gap_s

    def feed(self, bit: int, now: float) -> InputEvent | None:
        """Add one bit; if the previous frame had already gone quiet, return its result first."""
        finished = self.flush_if_idle(now)
        if len(self._bits) < MAX_FRAME_BITS:
            self._bits.append(1 if bit else 0)
        else:
            self._overflow = True
        self._last_bit_at = now
        return finished

    def flush_if_idle(self, now: float) -> InputEvent | None:
        """End the pending frame if no bit came for `gap_s`; return its event (None if dropped)."""
        deadline = self.idle_deadline()
        if deadline is None or now < deadline:
            return None
        bits, overflow = self._bits, self._overflow
        self._bits, self._overflow, self._last_bit_at = [], False, None
        if overflow:
            self._drop(DROP_BIT_COUNT, MAX_FRAME_BITS + 1)
            return None
        try:
            event = decode_frame(bits, self.reader)
        except WiegandFrameError as error:
            self._drop(error.reason, len(bits))
            return None
        self.stats.frames_ok += 1
        return event

    def _drop(self, reason: str, bit_count: int) -> None:
        self.stats.dropped(reason)
        # Bit count and reason only: never the bits, which would be a card number or PIN.
        log.warning("wiegand %s: dropped %d-bit frame (%s)", self.reader, bit_count, reason)


class WiegandReader:
    """A Wiegand reader or keypad on GPIO lines D0/D1 that sends CardRead/KeyPress to a sink.

    Lines are active-low with the Pi's internal pull-ups (readers drive them open-collector at
    5 V: put a level shifter or divider in between). A bit is recorded on each falling edge.
    """

    def __init__(
        self,
        name: str,
        d0_pin: int | str,
        d1_pin: int | str,
        *,
        pin_factory: Factory | None = None,
        gap_s: float = DEFAULT_GAP_S,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.name = name
        self.stats = ReaderStats()
        self._decoder = WiegandDecoder(name, gap_s=gap_s, stats=self.stats)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._sink: EventSink | None = None
        self._thread: threading.Thread | None = None
        self._d0 = DigitalInputDevice(d0_pin, pull_up=True, pin_factory=pin_factory)
        try:
            self._d1 = DigitalInputDevice(d1_pin, pull_up=True, pin_factory=pin_factory)
        except Exception:
            self._d0.close()
            raise

    def start(self, sink: EventSink) -> None:
        """Begin recording bits and start the thread that ends frames after the quiet gap."""
        if self._thread is not None:
            raise RuntimeError(f"wiegand reader {self.name} already started")
        self._sink = sink
        self._thread = threading.Thread(target=self._run_gap_timer, name=f"wiegand-{self.name}", daemon=True)
        self._thread.start()
        self._d0.when_activated = self._on_d0
        self._d1.when_activated = self._on_d1

    def poll(self) -> None:
        """End the pending frame now if it has gone quiet (the timer thread calls this too)."""
        with self._lock:
            event = self._decoder.flush_if_idle(self._monotonic())
        self._emit(event)

    def close(self) -> None:
        """Stop the timer thread and release the pins (which drops their callbacks); a
        half-received frame is discarded."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._d0.close()
        self._d1.close()

    def _on_d0(self) -> None:
        self._on_bit(0)

    def _on_d1(self) -> None:
        self._on_bit(1)

    def _on_bit(self, bit: int) -> None:
        with self._lock:
            event = self._decoder.feed(bit, self._monotonic())
        self._wakeup.set()
        self._emit(event)

    def _run_gap_timer(self) -> None:
        """Sleep until the pending frame's quiet deadline (or the next bit), then flush."""
        while not self._stopping.is_set():
            with self._lock:
                deadline = self._decoder.idle_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._monotonic())
            # A bit arriving between wait() and clear() is harmless: the deadline is
            # recomputed from the decoder on the next turn.
            self._wakeup.wait(timeout)
            self._wakeup.clear()
            if not self._stopping.is_set():
                self.poll()

    def _emit(self, event: InputEvent | None) -> None:
        if event is not None and self._sink is not None:
            self._sink(event)
