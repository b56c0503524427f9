"""Fixtures for the serial/evdev reader tests: pseudo-terminal ports, a fake clock, an event queue.

A pty pair stands in for a USB serial reader: the driver opens the slave with the real
pyserial, the test writes the device's real bytes to the master. The driver is given a
symlink to the slave, so the test can make the port vanish and come back like /dev/ttyUSB0.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.base import CardRead, EventSink, InputEvent, Reader

WAIT_SECONDS = 2.0  # generous upper bound; a passing test never waits this long


class PtyPort:
    """A pseudo-terminal behind a stable symlink path; unplug() and plug() make it vanish/return."""

    def __init__(self, path: Path, plugged: bool = True) -> None:
        self.path = str(path)
        self._master_fd: int | None = None
        self._slave_fd: int | None = None
        if plugged:
            self.plug()

    def plug(self) -> None:
        assert self._master_fd is None, "already plugged in"
        self._master_fd, self._slave_fd = os.openpty()
        os.symlink(os.ttyname(self._slave_fd), self.path)

    def unplug(self) -> None:
        """Remove the path and hang up the pty, so reads fail and reopening fails until plug()."""
        assert self._master_fd is not None and self._slave_fd is not None, "not plugged in"
        os.remove(self.path)
        os.close(self._master_fd)
        os.close(self._slave_fd)
        self._master_fd = self._slave_fd = None

    def write(self, data: bytes) -> None:
        assert self._master_fd is not None, "not plugged in"
        os.write(self._master_fd, data)

    def close(self) -> None:
        if self._master_fd is not None:
            self.unplug()


class FakeMonotonic:
    """A monotonic clock the test moves; counts calls so a test can wait for the reader to use it.

    `step` is added after every call, e.g. 0.1 to model an RDM6300 repeating 10 frames a second.
    """

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step
        self.calls = 0
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            value = self.now
            self.now += self.step
            self.calls += 1
            self._changed.notify_all()
            return value

    def advance(self, seconds: float) -> None:
        with self._changed:
            self.now += seconds

    def wait_for_calls(self, count: int, timeout: float = WAIT_SECONDS) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.calls >= count, timeout), (
                f"reader consulted the clock {self.calls} times, expected {count}"
            )


class EventQueue:
    """The sink a reader writes to; tests wait on it with a timeout instead of sleeping."""

    def __init__(self) -> None:
        self._queue: queue.Queue[InputEvent] = queue.Queue()

    def __call__(self, event: InputEvent) -> None:
        self._queue.put(event)

    def next(self, timeout: float = WAIT_SECONDS) -> InputEvent:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no reader event within {timeout} s") from None

    def until(self, sentinel: CardRead, timeout: float = WAIT_SECONDS) -> list[InputEvent]:
        """Everything emitted before `sentinel`: the reader handles input in order, so once the
        sentinel card arrives, every earlier byte has been processed."""
        before: list[InputEvent] = []
        while (event := self.next(timeout)) != sentinel:
            before.append(event)
        return before

    def assert_empty(self) -> None:
        assert self._queue.empty(), f"unexpected event {self._queue.get_nowait()!r}"


@pytest.fixture
def pty_port(tmp_path: Path) -> Iterator[PtyPort]:
    port = PtyPort(tmp_path / "ttyUSB-reader")
    yield port
    port.close()


@pytest.fixture
def unplugged_pty_port(tmp_path: Path) -> Iterator[PtyPort]:
    """A port whose path does not exist yet: a reader configured for it starts 'unplugged'."""
    port = PtyPort(tmp_path / "ttyUSB-later", plugged=False)
    yield port
    port.close()


@pytest.fixture
def start_reader() -> Iterator[Callable[[Reader, EventSink], Reader]]:
    """Start a reader on a sink and close it at teardown, even when the test fails."""
    started: list[Reader] = []

    def start(reader: Reader, sink: EventSink) -> Reader:
        started.append(reader)
        reader.start(sink)
        return reader

    yield start
    for reader in started:
        reader.close()


@pytest.fixture
def fake_monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def gap_clock() -> FakeMonotonic:
    """The clock a serial reader measures pauses in the stream with; it stands still unless a
    test advances it, so a busy test machine never makes a pause of its own."""
    return FakeMonotonic()


@pytest.fixture
def events() -> EventQueue:
    return EventQueue()
