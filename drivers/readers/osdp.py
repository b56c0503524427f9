"""OSDP card reader / PIN pad on RS-485, polled by a libosdp control panel over a secure channel.

libosdp does the protocol and the AES secure channel; this module only gives it a serial
port, keeps its refresh loop running, and turns its event dicts into the driver vocabulary.
Facts pinned against libosdp 3.2.9 (see tests/drivers/test_osdp.py):
- Without ENFORCE_SECURE a CP whose key the reader rejects falls back to plaintext and still
  delivers card reads, so it is always set here.
- A PD that NAKs a command (e.g. a buzzer it does not have) is taken offline for 300 s, so
  `indicate()` only sends what the reader declared in its capabilities.
- After going offline libosdp waits 300 s before retrying; we restart the link sooner.
- A channel method that raises kills the refresh thread, so `SerialChannel` never raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import osdp
import serial
from osdp import (
    Capability,
    CardFormat,
    Command,
    CommandLEDColor,
    Event,
    EventNotification,
    LibFlag,
    LogLevel,
    PDInfo,
)

from drivers.base import CardRead, EventSink, InputEvent, KeyPress, ReaderFault, ReaderStats
from drivers.readers.wiegand import WiegandFrameError, decode_frame

log = logging.getLogger(__name__)

SCBK_LENGTH = 16
# osdp_KEYPAD sends digits as ASCII and the two other keys as DEL (0x7F) and CR (0x0D).
_SPECIAL_KEYS = {0x7F: "*", 0x0D: "#", ord("*"): "*", ord("#"): "#"}


class CardDataError(ValueError):
    """Card data that must not become a card number; `reason` is the ReaderStats drop reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_card_read(event: dict, reader: str) -> CardRead | KeyPress:
    """What a libosdp card-read event dict carries; raises CardDataError/WiegandFrameError if garbage.

    Raw bits go through the project's Wiegand rule (26/34-bit cards with parity, 4/8-bit keys);
    ASCII data must be digits only. Anything else is dropped, never guessed at.
    """
    data: bytes = event.get("data") or b""
    card_format = event.get("format")
    if event.get("direction", 0) != 0:
        raise CardDataError("reverse_read")
    if card_format in (CardFormat.Wiegand, CardFormat.Unspecified):
        bit_count = int(event.get("length", 0))
        if bit_count <= 0 or len(data) * 8 < bit_count:
            raise CardDataError("short_data")
        value = int.from_bytes(data, "big") >> (len(data) * 8 - bit_count)  # MSB first
        return decode_frame([int(bit) for bit in format(value, f"0{bit_count}b")], reader)
    if card_format == CardFormat.ASCII:
        text = data.strip(b" \t\r\n")
        if not text or not text.isdigit():
            raise CardDataError("ascii_not_digits")
        return CardRead(card=text.decode("ascii"), reader=reader)
    raise CardDataError("unknown_card_format")


def key_from_byte(value: int) -> str | None:
    """The keypad key for one osdp_KEYPAD byte, or None when it is no key we know."""
    if ord("0") <= value <= ord("9"):
        return chr(value)
    return _SPECIAL_KEYS.get(value)


class SerialChannel(osdp.Channel):
    """The RS-485 line as libosdp wants it: non-blocking, failures returned (never raised), reopened.

    Any exception escaping into libosdp's C code leaves the interpreter in a broken state (a
    raising read kills the refresh thread; termios.error from a flush on a vanished port
    deadlocked the event queue in testing), hence the broad excepts below. After a failure
    the port is closed and the next write tries to reopen the same path, so a replugged USB
    adapter comes back when the reader restarts the link. All calls come from libosdp's
    refresh thread, so no lock is needed.
    """

    def __init__(self, port: serial.Serial) -> None:
        super().__init__()
        self._port = port
        self._failing = False

    @classmethod
    def open(cls, device: str, baudrate: int = 9600) -> SerialChannel:
        """Open `device` (e.g. /dev/ttyUSB0) 8N1; timeout=0 because libosdp polls, it must not wait."""
        return cls(serial.Serial(device, baudrate=baudrate, timeout=0, write_timeout=0.5))

    def read(self, max_bytes: int) -> bytes:
        if not self._port.is_open:
            return b""
        try:
            return self._port.read(max_bytes)
        except Exception as exc:  # noqa: BLE001 - see class docstring
            self._fail(exc)
            return b""

    def write(self, buf: bytes) -> int:
        try:
            if not self._port.is_open:
                self._port.open()
                log.info("OSDP serial port %s reopened", self._port.port)
            written = self._port.write(buf)
        except Exception as exc:  # noqa: BLE001 - see class docstring
            self._fail(exc)
            return -1  # libosdp takes the reader offline at once
        self._failing = False
        return written or 0

    def flush(self) -> None:
        if not self._port.is_open:
            return
        try:
            self._port.reset_input_buffer()  # libosdp flushes to drop a half-received reply
        except Exception as exc:  # noqa: BLE001 - termios.error is not an OSError
            self._fail(exc)

    def close(self) -> None:
        try:
            self._port.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort; the port is done with
            log.debug("closing OSDP serial port %s: %s", self._port.port, exc)

    def _fail(self, exc: Exception) -> None:
        if not self._failing:
            log.error("OSDP serial port %s failed: %s", self._port.port, exc)
        self._failing = True
        self.close()


class OSDPReader:
    """One OSDP reader (PD) on a serial line: cards and keys in over a secure channel, LED/buzzer out.

    Emits CardRead/KeyPress; ReaderFault 'disconnected' when the secure session is lost or
    cannot be made (also at start-up, e.g. a wrong SCBK), 'reconnected' when it is back, and
    'error' if libosdp's refresh loop dies. One reader per serial port (no multi-drop yet).
    """

    def __init__(
        self,
        name: str,
        scbk: bytes,
        *,
        device: str | None = None,
        channel: osdp.Channel | None = None,
        address: int = 0,
        baudrate: int = 9600,
        retry_after_s: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
        osdp_log_level: int = LogLevel.Warning,
        poll_s: float = 0.05,
    ) -> None:
        if not isinstance(scbk, (bytes, bytearray)) or len(scbk) != SCBK_LENGTH:
            raise ValueError(f"OSDP SCBK for reader {name!r} must be {SCBK_LENGTH} bytes")
        if (device is None) == (channel is None):
            raise ValueError("give exactly one of device (serial port path) or channel")
        if not 0 <= address <= 126:
            raise ValueError("OSDP address must be 0-126")
        self.name = name
        self.address = address
        self.stats = ReaderStats()
        self._scbk = bytes(scbk)
        self._device = device
        self._channel = channel
        self._baudrate = baudrate
        self._retry_after_s = retry_after_s
        self._monotonic = monotonic
        self._osdp_log_level = osdp_log_level
        self._poll_s = poll_s
        self._cp: osdp.ControlPanel | None = None
        self._sink: EventSink | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._secure = threading.Event()
        self._link_up: bool | None = None  # None until libosdp first reports
        self._offline_since: float | None = None
        self._refresh_dead_reported = False

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"OSDPReader(name={self.name!r}, address={self.address})"

    def start(self, sink: EventSink) -> None:
        """Open the line, start libosdp's refresh thread and our event thread."""
        if self._thread is not None:
            raise RuntimeError(f"{self!r} already started")
        if self._channel is None:
            assert self._device is not None  # __init__ takes exactly one of device or channel
            self._channel = SerialChannel.open(self._device, self._baudrate)
        self._sink = sink
        info = PDInfo(
            self.address,
            self._channel,
            scbk=self._scbk,
            name=self.name,
            flags=[LibFlag.EnforceSecure, LibFlag.EnableNotification],
        )
        cp = self._cp = osdp.ControlPanel([info], log_level=self._osdp_log_level)
        cp.start()  # libosdp's own thread: refresh every 20 ms (it needs < 50 ms)
        self._thread = threading.Thread(target=self._run, args=(cp,), name=f"osdp-{self.name}", daemon=True)
        self._thread.start()

    def wait_until_secure(self, timeout: float) -> bool:
        """Block until the secure session is up (online implies secure: ENFORCE_SECURE is set)."""
        return self._secure.wait(timeout)

    def is_secure(self) -> bool:
        """Whether libosdp reports an active secure channel to the reader right now."""
        return self._cp is not None and self._cp.is_sc_active(self.address)

    def indicate(self, granted: bool) -> bool:
        """Show the decision: LED green or red for 2 s, one beep or three; False if nothing was sent."""
        cp = self._cp
        if cp is None or not self._secure.is_set():
            return False
        color = CommandLEDColor.Green if granted else CommandLEDColor.Red
        commands = []
        if self._reader_has(cp, Capability.LEDControl):
            commands.append(
                {
                    "command": Command.LED,
                    "reader": 0,
                    "led_number": 0,
                    "temporary": True,
                    "control_code": 2,
                    "on_color": color,
                    "off_color": CommandLEDColor.Black,
                    "on_count": 20,
                    "off_count": 0,
                    "timer_count": 20,
                }
            )
        if self._reader_has(cp, Capability.AudibleControl):
            commands.append(
                {
                    "command": Command.Buzzer,
                    "reader": 0,
                    "control_code": 2,
                    "on_count": 2,
                    "off_count": 1,
                    "rep_count": 1 if granted else 3,
                }
            )
        results = [cp.submit_command(self.address, command) for command in commands]
        return bool(results) and all(results)

    def close(self) -> None:
        """Stop both threads (within ~0.1 s) and release the line."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._cp is not None:
            self._cp.stop()
            self._cp = None
        if isinstance(self._channel, SerialChannel) and self._device is not None:
            self._channel.close()
            self._channel = None
        self._secure.clear()

    # --- event thread -------------------------------------------------------------------

    def _reader_has(self, cp: osdp.ControlPanel, capability: int) -> bool:
        level, items = cp.check_capability(self.address, capability)
        return level > 0 and items > 0

    def _run(self, cp: osdp.ControlPanel) -> None:
        while not self._stopping.is_set():
            event = cp.get_event(self.address, timeout=self._poll_s)
            if event is not None:
                self._handle(event)
            self._restart_link_if_due(cp)
            self._check_refresh_alive(cp)

    def _handle(self, event: dict) -> None:
        kind = event.get("event")
        if kind == Event.CardRead:
            self._on_card(event)
        elif kind == Event.KeyPress:
            self._on_keys(event.get("data") or b"")
        elif kind == Event.Notification and event.get("type") == EventNotification.PeripheralDeviceStatus:
            self._on_link(bool(event.get("arg0")))

    def _on_card(self, event: dict) -> None:
        try:
            decoded = decode_card_read(event, self.name)
        except (CardDataError, WiegandFrameError) as err:
            self.stats.dropped(err.reason)
            log.warning("%s: dropped OSDP card read (%s)", self.name, err.reason)
            return
        self.stats.frames_ok += 1
        if isinstance(decoded, CardRead):
            log.info("%s: card ...%s", self.name, decoded.card[-4:])
        self._emit(decoded)

    def _on_keys(self, data: bytes) -> None:
        for value in data:
            key = key_from_byte(value)
            if key is None:
                self.stats.dropped("unknown_key")
                continue
            self.stats.frames_ok += 1
            self._emit(KeyPress(key=key, reader=self.name))

    def _on_link(self, online: bool) -> None:
        was = self._link_up
        self._link_up = online
        if online:
            self._offline_since = None
            self._secure.set()
            log.info("%s: OSDP secure session up", self.name)
            if was is False:
                self._emit(ReaderFault(self.name, "reconnected"))
        else:
            self._secure.clear()
            if was is not False:
                self._offline_since = self._monotonic()
                log.warning("%s: OSDP reader offline", self.name)
                self._emit(ReaderFault(self.name, "disconnected", "no secure session with the reader"))

    def _restart_link_if_due(self, cp: osdp.ControlPanel) -> None:
        """libosdp would wait 300 s after going offline; disable+enable restarts it from INIT now."""
        if self._offline_since is None:
            return
        if self._monotonic() - self._offline_since < self._retry_after_s:
            return
        if cp.is_pd_enabled(self.address):
            cp.disable_pd(self.address)  # takes effect at the next refresh; enable on a later tick
            return
        cp.enable_pd(self.address)
        self._offline_since = self._monotonic()

    def _check_refresh_alive(self, cp: osdp.ControlPanel) -> None:
        if self._refresh_dead_reported or cp.thread is None or cp.thread.is_alive():
            return
        self._refresh_dead_reported = True
        self._secure.clear()
        log.error("%s: libosdp refresh thread died; reader is deaf", self.name)
        self._emit(ReaderFault(self.name, "error", "OSDP refresh loop stopped"))

    def _emit(self, event: InputEvent) -> None:
        assert self._sink is not None  # start() sets it before the thread that emits runs
        try:
            self._sink(event)
        except Exception:  # a broken consumer must not stop the reader
            log.exception("%s: event sink failed", self.name)
