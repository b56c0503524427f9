"""systemd's notify protocol, stdlib only: READY=1, STOPPING=1 and the watchdog's WATCHDOG=1.

The door unit is `Type=notify` with `WatchdogSec=`. systemd passes `$NOTIFY_SOCKET` (a path,
or an abstract address written with a leading '@') and, with a watchdog, `$WATCHDOG_USEC`
(and `$WATCHDOG_PID` when the watchdog is meant for one process only). Outside systemd
nothing is set and every call here does nothing.

The watchdog is fed by the door loop itself, once per turn, through `WatchdogFeeder`: a loop
that stops turning (dead thread, or stuck in a call) stops feeding, and systemd restarts the
service (relay off first, through `ExecStopPost`). Sending never blocks and never raises, so
feeding cannot delay or break the door.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends datagrams to systemd's notify socket; a no-op without one."""

    def __init__(self, address: str | None) -> None:
        self.address = _socket_address(address) if address else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send `KEY=value` lines in one datagram; False when not sent (never raises, never
        blocks: a full receive queue drops the message, as a late watchdog ping would be)."""
        if self.address is None:
            return False
        message = "\n".join(assignments).encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    self._sock.setblocking(False)
                self._sock.sendto(message, self.address)
            except OSError as exc:
                if not self._warned:  # once: a missing socket would otherwise flood the log
                    log.warning("systemd notify socket %r: %s", self.address, exc)
                    self._warned = True
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _socket_address(address: str) -> str | bytes:
    if address.startswith("@"):  # abstract namespace: a leading NUL byte instead
        return b"\0" + address[1:].encode("utf-8")
    return address


def watchdog_seconds(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """WatchdogSec= as systemd passed it, or None when no watchdog is meant for this process."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    watchdog_pid = env.get("WATCHDOG_PID")
    if watchdog_pid:
        try:
            if int(watchdog_pid) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 1_000_000


class WatchdogFeeder:
    """Pass it as the door loop's `on_turn`: sends WATCHDOG=1 at most once per `period`.

    Cheap enough for every turn: a clock read and a comparison; a datagram only when due.
    """

    def __init__(
        self, notifier: Notifier, period: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._notifier = notifier
        self.period = period
        self._clock = clock
        self._last: float | None = None
        self.sent = 0

    @classmethod
    def from_environment(
        cls, notifier: Notifier, env: Mapping[str, str] | None = None
    ) -> WatchdogFeeder | None:
        """A feeder pinging every WatchdogSec/3, or None when systemd set no watchdog."""
        seconds = watchdog_seconds(env)
        if seconds is None or not notifier.enabled:
            return None
        return cls(notifier, seconds / 3)

    def __call__(self) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self.period:
            return
        self._last = now
        if self._notifier.watchdog():
            self.sent += 1
