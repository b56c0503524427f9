"""The reader side of an OSDP test: a real libosdp PeripheralDevice, and lines to reach it.

`LoopbackLine` joins the driver's control panel and the PD in memory (and can be cut like
a failed RS-485 adapter); `PtyPdChannel` puts the PD on the master of a `PluggablePty` so
the driver's real pyserial `SerialChannel` talks to it through the slave's path.
"""

from __future__ import annotations

import os
import threading

from osdp import (
    Capability,
    CardFormat,
    Channel,
    Event,
    LogLevel,
    PDCapabilities,
    PDInfo,
    PeripheralDevice,
)


class _Buffer:
    """Bytes in flight in one direction."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lock = threading.Lock()


class _LoopbackEnd(Channel):
    def __init__(self, line: LoopbackLine, rx: _Buffer, tx: _Buffer) -> None:
        super().__init__()
        self._line, self._rx, self._tx = line, rx, tx

    def read(self, max_bytes: int) -> bytes:
        with self._rx.lock:
            chunk = bytes(self._rx.data[:max_bytes])
            del self._rx.data[:max_bytes]
        return chunk

    def write(self, buf: bytes) -> int:
        if self._line.is_cut:
            return -1  # what SerialChannel returns when the port fails
        with self._tx.lock:
            self._tx.data.extend(buf)
        return len(buf)

    def flush(self) -> None:
        with self._rx.lock:
            self._rx.data.clear()


class LoopbackLine:
    """An in-memory RS-485 pair: `cp_end` for the driver, `pd_end` for the PD; cut() fails writes."""

    def __init__(self) -> None:
        to_pd, to_cp = _Buffer(), _Buffer()
        self.is_cut = False
        self.cp_end = _LoopbackEnd(self, rx=to_cp, tx=to_pd)
        self.pd_end = _LoopbackEnd(self, rx=to_pd, tx=to_cp)

    def cut(self) -> None:
        self.is_cut = True

    def restore(self) -> None:
        self.is_cut = False


class PluggablePty:
    """A pty behind a stable path, like /dev/ttyUSB0: unplug() hangs it up and removes the path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.master: int | None = None
        self._slave: int | None = None
        self.plug()

    def plug(self) -> None:
        self.master, self._slave = os.openpty()
        os.symlink(os.ttyname(self._slave), self.path)

    def unplug(self) -> None:
        os.remove(self.path)
        os.close(self.master)
        os.close(self._slave)
        self.master = self._slave = None

    def close(self) -> None:
        if self.master is not None:
            self.unplug()


class PtyPdChannel(Channel):
    """The PD's side of a pseudo-terminal: non-blocking reads and writes on the master fd."""

    def __init__(self, master_fd: int) -> None:
        super().__init__()
        self._fd = master_fd
        os.set_blocking(master_fd, False)

    def read(self, max_bytes: int) -> bytes:
        try:
            return os.read(self._fd, max_bytes)
        except (BlockingIOError, OSError):
            return b""

    def write(self, buf: bytes) -> int:
        try:
            return os.write(self._fd, buf)
        except OSError:
            return -1

    def flush(self) -> None:
        while self.read(256):
            pass


class ReaderPeer:
    """A libosdp PD standing in for an OSDP reader: sends card/key events, records CP commands."""

    def __init__(
        self, channel: Channel, scbk: bytes, address: int = 0, *, led: bool = True, buzzer: bool = True
    ) -> None:
        capabilities = []
        if led:
            capabilities.append((Capability.LEDControl, 1, 1))
        if buzzer:
            capabilities.append((Capability.AudibleControl, 1, 1))
        self._pd = PeripheralDevice(
            PDInfo(address, channel, scbk=scbk),
            PDCapabilities(capabilities),
            log_level=LogLevel.Warning,
        )

    def start(self) -> None:
        self._pd.start()

    def stop(self) -> None:
        """Stop answering the line, as if the reader lost power (safe to call twice)."""
        if self._pd.thread is not None:
            self._pd.stop()

    def card(self, bits: str, card_format: int = CardFormat.Wiegand) -> None:
        """Report a card read as raw bits ('0'/'1' string, first bit first)."""
        padding = -len(bits) % 8
        data = (int(bits, 2) << padding).to_bytes((len(bits) + padding) // 8, "big")
        self._submit(
            {
                "event": Event.CardRead,
                "reader_no": 0,
                "format": card_format,
                "direction": 0,
                "length": len(bits),
                "data": data,
            }
        )

    def keys(self, data: bytes) -> None:
        """Report keypad bytes exactly as an osdp_KEYPAD reply carries them."""
        self._submit({"event": Event.KeyPress, "reader_no": 0, "data": data})

    def next_command(self, timeout: float) -> dict:
        command = self._pd.get_command(timeout=timeout)
        assert command is not None, f"PD received no command within {timeout} s"
        return command

    def has_no_command(self) -> bool:
        return self._pd.get_command(timeout=-1) is None

    def _submit(self, event: dict) -> None:
        assert self._pd.submit_event(event), f"libosdp refused event {event['event']}"
