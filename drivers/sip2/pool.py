"""Kept-alive, logged-in SIP2 connections, so a patron check is one request and one reply.

A background thread ("sip2-pool") opens `size` connections (connect, TLS, login, SC status 99),
sends SC status as a heartbeat every `heartbeat_interval` seconds on idle ones, and re-opens
any connection that failed, at once and then with a growing delay while the LMS stays down.
`check_patron` borrows an idle connection, asks, and returns it; it never connects itself and
never blocks past its timeout. Any failure closes that connection (its state is unknown; a late
reply must not answer the next check) and raises LmsUnavailable: the door's offline policy
decides then. When no connection is up or being opened, a check fails at once instead of
waiting out its timeout. Thread-safe: the door calls it from a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from drivers.sip2.codec import AcsStatus, PatronReply, encode_patron_status
from drivers.sip2.connection import Monotonic, Sip2Connection, Sip2Settings
from drivers.sip2.errors import (
    REASON_NOT_CONNECTED,
    REASON_POOL_CLOSED,
    REASON_TIMEOUT,
    LmsUnavailable,
    Sip2Closed,
    Sip2Error,
    reason_for,
)

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 30.0


class Sip2Pool:
    """A fixed number of connections to one LMS, kept open and logged in."""

    def __init__(
        self,
        settings: Sip2Settings,
        *,
        size: int = 2,
        heartbeat_interval: float = 60.0,
        clock: Monotonic = time.monotonic,
        wall_clock: Callable[[], datetime] = datetime.now,
        max_retry_delay: float = MAX_RETRY_DELAY,
    ) -> None:
        if size < 1:
            raise ValueError(f"a SIP2 pool needs at least one connection, got {size}")
        if heartbeat_interval <= 0:
            raise ValueError("the SIP2 heartbeat interval must be positive")
        self.settings = settings
        self.size = size
        self.heartbeat_interval = heartbeat_interval
        self._clock = clock
        self._wall_clock = wall_clock  # the transaction date in requests (local time, per SIP2)
        self._max_retry_delay = max_retry_delay
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._idle: list[Sip2Connection] = []
        self._busy = 0
        self._opening = size  # slots the maintainer opens at its next turn
        self._waiting = 0  # slots whose last open failed, retried after the delay
        self._retry_at = 0.0
        self._retry_delay = FIRST_RETRY_DELAY
        self._closed = False
        self._thread: threading.Thread | None = None
        self.last_status: AcsStatus | None = None
        self.last_error = ""  # why the last open or check failed (no card or PIN in it)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread that opens the connections (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("the SIP2 pool is already started")
        self._thread = threading.Thread(target=self._maintain, name="sip2-pool", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float, connections: int = 1) -> bool:
        """Wait until `connections` connections are up; False if they are not within `timeout`."""
        deadline = self._clock() + timeout
        with self._cond:
            while len(self._idle) + self._busy < min(connections, self.size):
                remaining = deadline - self._clock()
                if remaining <= 0 or self._closed:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        """Stop the thread and close every connection (busy ones close when returned)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        self._wake.set()
        for connection in idle:
            connection.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.settings.connect_timeout + self.settings.reply_timeout + 1)

    @property
    def connected(self) -> int:
        """How many connections are open right now (idle or in a check)."""
        with self._cond:
            return len(self._idle) + self._busy

    # --- the check ---------------------------------------------------------------------------

    def check_patron(self, barcode: str, pin: str, timeout: float) -> PatronReply:
        """Ask the LMS about this card and PIN; the reply, or LmsUnavailable within `timeout`
        seconds on the monotonic clock (or the settings' reply_timeout, when that is shorter).

        ValueError, before anything is sent, for an empty card number or PIN (an empty PIN is
        never sent: some LMSs accept a blank password) or one SIP2 cannot carry. Whether the
        reply admits anyone is not decided here (see codec.credentials_accepted).
        """
        self._validate(barcode, pin)
        deadline = self._clock() + min(timeout, self.settings.reply_timeout)
        for attempt in (1, 2):
            connection = self._acquire(deadline)
            try:
                reply = connection.check_patron(barcode, pin, deadline, self._wall_clock())
            except Sip2Error as error:
                self._discard(connection, error)
                # An idle connection the LMS dropped without our noticing fails before any reply
                # byte; a status request is safe to repeat, so one other connection may try.
                if attempt == 1 and isinstance(error, Sip2Closed) and not error.reply_started:
                    continue
                raise LmsUnavailable(reason_for(error), str(error)) from None
            except BaseException:
                self._discard(connection, None)
                raise
            self._release(connection)
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _validate(self, barcode: str, pin: str) -> None:
        """ValueError for input the codec would refuse, raised before borrowing a connection."""
        encode_patron_status(
            institution=self.settings.institution_id,
            barcode=barcode,
            pin=pin,
            terminal_password=self.settings.terminal_password,
            language=self.settings.language,
            moment=datetime(2000, 1, 1),
            sequence=0,
            charset=self.settings.charset,
        )

    def _acquire(self, deadline: float) -> Sip2Connection:
        with self._cond:
            while True:
                if self._closed:
                    raise LmsUnavailable(REASON_POOL_CLOSED, "the SIP2 pool is closed")
                while self._idle:
                    connection = self._idle.pop()
                    if connection.peer_closed():
                        connection.close()
                        self._schedule_reopen("the LMS closed an idle connection")
                        continue
                    self._busy += 1
                    return connection
                if self._busy == 0 and self._opening == 0:
                    raise LmsUnavailable(REASON_NOT_CONNECTED, self.last_error or "no connection to the LMS")
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise LmsUnavailable(REASON_TIMEOUT, "no free SIP2 connection in time")
                self._cond.wait(remaining)

    def _release(self, connection: Sip2Connection) -> None:
        with self._cond:
            self._busy -= 1
            if self._closed:
                connection.close()
            else:
                self._idle.append(connection)
            self._cond.notify_all()

    def _discard(self, connection: Sip2Connection, error: Sip2Error | None) -> None:
        connection.close()
        with self._cond:
            self._busy -= 1
            self._schedule_reopen(str(error) if error else "a check was interrupted")
            self._cond.notify_all()

    def _schedule_reopen(self, why: str) -> None:
        """Hand a lost slot to the maintainer for an immediate reopen (call with the lock)."""
        self.last_error = why
        if not self._closed:
            self._opening += 1
            self._wake.set()

    # --- the background thread ----------------------------------------------------------------

    def _maintain(self) -> None:
        next_heartbeat = self._clock() + self.heartbeat_interval
        while True:
            with self._cond:
                if self._closed:
                    return
                if self._waiting and self._clock() >= self._retry_at:
                    self._opening += self._waiting
                    self._waiting = 0
                to_open = self._opening
            if to_open:
                self._open_slots(to_open)
            if self._clock() >= next_heartbeat:
                self._heartbeat()
                next_heartbeat = self._clock() + self.heartbeat_interval
            with self._cond:
                if self._closed:
                    return
                wait = next_heartbeat - self._clock()
                if self._waiting:
                    wait = min(wait, self._retry_at - self._clock())
                if self._opening:
                    wait = 0
            self._wake.wait(max(wait, 0.0))
            self._wake.clear()

    def _open_one(self) -> Sip2Connection:
        deadline = self._clock() + self.settings.connect_timeout + self.settings.reply_timeout
        connection = Sip2Connection.open(self.settings, deadline, clock=self._clock)
        try:
            status = connection.sc_status(deadline)
        except BaseException:
            connection.close()
            raise
        self.last_status = status
        if not status.online:
            log.warning("the LMS reports itself offline (98 online status N)")
        return connection

    def _open_slots(self, count: int) -> None:
        """Open `count` connections; after the first failure the rest wait for the retry delay."""
        for _ in range(count):
            try:
                connection = self._open_one()
            except Sip2Error as error:
                log.warning(
                    "SIP2 connection to %s:%s failed: %s", self.settings.host, self.settings.port, error
                )
                with self._cond:
                    self.last_error = str(error)
                    self._waiting += self._opening
                    self._opening = 0
                    self._retry_at = self._clock() + self._retry_delay
                    self._retry_delay = min(self._retry_delay * 2, self._max_retry_delay)
                    self._cond.notify_all()
                return
            with self._cond:
                self._opening -= 1
                self._retry_delay = FIRST_RETRY_DELAY
                if self._closed:
                    connection.close()
                    return
                self._idle.append(connection)
                self._cond.notify_all()

    def _heartbeat(self) -> None:
        """SC status on each idle connection, one at a time (a check may borrow the others)."""
        with self._cond:
            count = len(self._idle)
        for _ in range(count):
            with self._cond:
                if self._closed or not self._idle:
                    return
                connection = self._idle.pop(0)  # the longest idle first
                self._busy += 1
            try:
                self.last_status = connection.sc_status(self._clock() + self.settings.reply_timeout)
            except Sip2Error as error:
                log.warning("SIP2 heartbeat failed: %s", error)
                self._discard(connection, error)
                continue
            self._release(connection)
