"""Shared plumbing for card readers that deliver a stream: read, decode, filter, emit, reconnect.

Every stream reader (RDM6300, serial barcode scanner, evdev keyboard wedge) is the same
machine: a source that may vanish (USB unplugged), a pure decoder that turns chunks into card
numbers or named drop reasons, and a repeat filter. Only the source and the decoder differ,
so the thread, the reconnect loop and the fault reporting live here once.

A serial line has no framing of its own beyond what the device sends, so noise (a loose wire,
the lock's relay switching, a scanner plugged in) can leave a partial line or frame behind
that would be glued onto the next real scan and spoil it. `GapResync` ends such a leftover
after a pause in the stream, so the next scan starts clean; the decoders bound their buffers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import serial

from drivers.base import CardRead, EventSink, ReaderFault, ReaderStats

logger = logging.getLogger(__name__)

ChunkT = TypeVar("ChunkT")
ChunkT_co = TypeVar("ChunkT_co", covariant=True)
ChunkT_contra = TypeVar("ChunkT_contra", contravariant=True)

Monotonic = Callable[[], float]

# A device sends one scan or frame as a burst: 16 bytes take 17 ms at 9600 baud, and USB-serial
# adapters forward within their 16 ms latency timer. A pause ten times longer than the slowest
# of that (with room for a busy Pi scheduling the reader thread late) means what came before
# is finished, or never will be: 0.5 s. A person cannot present the next card faster than that.
LINE_GAP_SECONDS = 0.5
STALE_PARTIAL = "stale_partial"  # the drop reason of a partial line a pause ended (as the wedge's)


@dataclass(frozen=True)
class Dropped:
    """Why some input was thrown away instead of becoming a card number."""

    reason: str


DecodeResult = str | Dropped
"""A decoder yields card digits (str) or a Dropped with a named reason."""


class StreamDecoder(Protocol[ChunkT_contra]):
    """Pure state machine: fed chunks in arrival order, returns what completed in them."""

    def feed(self, chunk: ChunkT_contra) -> list[DecodeResult]: ...


class ResyncingDecoder(Protocol[ChunkT_contra]):
    """A StreamDecoder that can be told its input paused: it ends any partial line or frame."""

    def feed(self, chunk: ChunkT_contra) -> list[DecodeResult]: ...

    def resync(self) -> list[DecodeResult]:
        """Give up on a partial line/frame (returned as a drop, if it was not counted yet)."""
        ...


class GapResync(Generic[ChunkT]):
    """A StreamDecoder: feeds `decoder`, first resyncing it when more than `gap_seconds` passed
    since the previous chunk (on the injected monotonic clock, read once per chunk).

    The reader thread hands each chunk on as soon as it is read, so the time between chunks is
    the pause in the stream, give or take the thread's scheduling.
    """

    def __init__(
        self,
        decoder: ResyncingDecoder[ChunkT],
        gap_seconds: float = LINE_GAP_SECONDS,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.decoder = decoder
        self._gap_seconds = gap_seconds
        self._monotonic = monotonic
        self._last_chunk_at: float | None = None

    def feed(self, chunk: ChunkT) -> list[DecodeResult]:
        now = self._monotonic()
        last, self._last_chunk_at = self._last_chunk_at, now
        results: list[DecodeResult] = []
        if last is not None and now - last > self._gap_seconds:
            results += self.decoder.resync()
        results += self.decoder.feed(chunk)
        return results


class ChunkSource(Protocol[ChunkT_co]):
    """An open device read in short, bounded waits; raises OSError when the device is gone."""

    def read_chunk(self) -> ChunkT_co: ...

    def close(self) -> None: ...


class RepeatFilter:
    """Lets a card through once, then not again until it has been absent for `holdoff_seconds`.

    Readers repeat a held card many times a second; every sighting refreshes the hold-off, so
    the same card is emitted again only after a real gap. A different card passes at once.
    """

    def __init__(self, holdoff_seconds: float, monotonic: Monotonic = time.monotonic) -> None:
        self._holdoff_seconds = holdoff_seconds
        self._monotonic = monotonic
        self._last_card: str | None = None
        self._last_seen = 0.0

    def should_emit(self, card: str) -> bool:
        now = self._monotonic()
        is_new = card != self._last_card or now - self._last_seen >= self._holdoff_seconds
        self._last_card, self._last_seen = card, now
        return is_new


class SerialByteSource:
    """One open pyserial port, read with a short timeout so the loop notices close() promptly."""

    def __init__(self, port: str, baudrate: int, read_timeout: float = 0.1) -> None:
        self._serial = serial.Serial(
            port,
            baudrate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=read_timeout,
        )

    def read_chunk(self) -> bytes:
        return self._serial.read(max(1, self._serial.in_waiting))

    def close(self) -> None:
        self._serial.close()


class ReconnectingReadLoop(Generic[ChunkT]):
    """Owns one background thread that reads chunks from a source and reopens it when it vanishes.

    Losing the source (OSError, which includes pyserial's SerialException) emits
    ReaderFault(kind="disconnected") once; every `retry_seconds` the source is reopened, and
    success emits ReaderFault(kind="reconnected"). A source missing at start counts as lost.
    """

    def __init__(
        self,
        name: str,
        open_source: Callable[[], ChunkSource[ChunkT]],
        on_chunk: Callable[[ChunkT], None],
        sink: EventSink,
        retry_seconds: float = 2.0,
        join_timeout: float = 2.0,
    ) -> None:
        self.name = name
        self._open_source = open_source
        self._on_chunk = on_chunk
        self._sink = sink
        self._retry_seconds = retry_seconds
        self._join_timeout = join_timeout
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the source is open (e.g. before sending test bytes); False on timeout."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"reader {self.name} already started")
        self._thread = threading.Thread(target=self._run, name=f"reader-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread; it checks the stop flag at least every read timeout / retry wait."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._join_timeout)
            if self._thread.is_alive():
                logger.warning("reader %s: thread did not stop within %.1f s", self.name, self._join_timeout)

    def _run(self) -> None:
        lost = False
        while not self._stop.is_set():
            source = self._try_open(report=not lost)
            if source is None:
                lost = True
                self._stop.wait(self._retry_seconds)
                continue
            self._connected.set()
            if lost:
                logger.info("reader %s: reconnected", self.name)
                self._sink(ReaderFault(self.name, "reconnected"))
                lost = False
            lost = self._read_until_lost(source)
            if lost:
                self._stop.wait(self._retry_seconds)

    def _try_open(self, report: bool) -> ChunkSource[ChunkT] | None:
        try:
            return self._open_source()
        except OSError as exc:
            if report:
                logger.warning("reader %s: cannot open: %s", self.name, exc)
                self._sink(ReaderFault(self.name, "disconnected", str(exc)))
        except Exception as exc:  # a config or driver bug must not kill the thread silently
            logger.exception("reader %s: unexpected error opening source", self.name)
            if report:
                self._sink(ReaderFault(self.name, "error", type(exc).__name__))
        return None

    def _read_until_lost(self, source: ChunkSource[ChunkT]) -> bool:
        """Read until close() (returns False) or until the source fails (returns True)."""
        try:
            while not self._stop.is_set():
                chunk = source.read_chunk()
                if chunk:
                    self._deliver(chunk)
            return False
        except OSError as exc:
            logger.warning("reader %s: lost: %s", self.name, exc)
            self._sink(ReaderFault(self.name, "disconnected", str(exc)))
            return True
        finally:
            self._connected.clear()
            try:
                source.close()
            except OSError:
                pass  # already gone; nothing left to release

    def _deliver(self, chunk: ChunkT) -> None:
        try:
            self._on_chunk(chunk)
        except Exception as exc:  # a decoder bug loses this chunk, not the reader
            logger.exception("reader %s: error handling input", self.name)
            self._sink(ReaderFault(self.name, "error", type(exc).__name__))


class StreamCardReader(Generic[ChunkT]):
    """A Reader: source chunks -> decoder -> stats + repeat filter -> CardRead on the sink."""

    def __init__(
        self,
        name: str,
        open_source: Callable[[], ChunkSource[ChunkT]],
        decoder: StreamDecoder[ChunkT],
        repeat_filter: RepeatFilter,
        retry_seconds: float = 2.0,
    ) -> None:
        self.name = name
        self.stats = ReaderStats()
        self._open_source = open_source
        self._decoder = decoder
        self._repeat_filter = repeat_filter
        self._retry_seconds = retry_seconds
        self._sink: EventSink | None = None
        self._loop: ReconnectingReadLoop[ChunkT] | None = None

    def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._loop = ReconnectingReadLoop(
            self.name, self._open_source, self._handle_chunk, sink, self._retry_seconds
        )
        self._loop.start()

    def wait_connected(self, timeout: float) -> bool:
        """True once the device is open; lets callers (and tests) wait instead of sleeping."""
        return self._loop is not None and self._loop.wait_connected(timeout)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()

    def _handle_chunk(self, chunk: ChunkT) -> None:
        assert self._sink is not None
        for result in self._decoder.feed(chunk):
            if isinstance(result, Dropped):
                self.stats.dropped(result.reason)
                logger.debug("reader %s: dropped input (%s)", self.name, result.reason)
                continue
            self.stats.frames_ok += 1
            if self._repeat_filter.should_emit(result):
                logger.debug("reader %s: card ending %s", self.name, result[-4:])
                self._sink(CardRead(card=result, reader=self.name))
