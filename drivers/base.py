"""The small vocabulary every driver speaks: readers emit input events, the door consumes them.

Drivers never decide anything: they turn bytes and pin edges into `CardRead`, `KeyPress`
and `ReaderFault` values and hand them to a sink (usually the door's queue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class CardRead:
    """A card number as read (digits only), and the name of the reader that read it."""

    card: str
    reader: str


@dataclass(frozen=True)
class KeyPress:
    """One key from a PIN keypad: '0'-'9', '*' (clear) or '#' (submit)."""

    key: str
    reader: str


@dataclass(frozen=True)
class ReaderFault:
    """A reader problem worth an event: 'disconnected', 'reconnected', 'error'."""

    reader: str
    kind: str
    detail: str = ""


InputEvent = CardRead | KeyPress | ReaderFault
EventSink = Callable[[InputEvent], None]

KEYPAD_KEYS = frozenset("0123456789*#")


@dataclass
class ReaderStats:
    """Counters a reader keeps so garbage is visible instead of silently lost."""

    frames_ok: int = 0
    frames_dropped: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)

    def dropped(self, reason: str) -> None:
        self.frames_dropped += 1
        self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + 1


class Reader(Protocol):
    """Anything that reads credentials: started with a sink, closed at shutdown."""

    name: str
    stats: ReaderStats

    def start(self, sink: EventSink) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ConnectingReader(Reader, Protocol):
    """A reader whose device opens only after start() (a serial port, a USB device): what is
    sent before it is open is lost, so the service (and tests) can wait until it is."""

    def wait_connected(self, timeout: float) -> bool:
        """True once the device is open; False when `timeout` seconds pass first."""
        ...
