"""One TCP (optionally TLS) connection to the LMS's SIP2 port: connect, log in, ask, read.

Every call takes a deadline on the monotonic clock and never blocks past it: socket waits are
set to the time left. Error detection is always on: each request carries AY/AZ, each reply
must carry a matching checksum and the same AY. A reply with a bad checksum gets one request
to resend (97) and then fails; an LMS that asks us to resend (96) gets our request once more.
After any failure the connection is in an unknown state and must be closed (the pool does).
Not thread-safe: one caller at a time (the pool hands each connection to one check).
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from drivers.sip2.codec import (
    AcsStatus,
    LoginReply,
    PatronReply,
    Reply,
    ResendRequest,
    check_charset,
    decode_reply,
    encode_acs_resend,
    encode_login,
    encode_patron_information,
    encode_patron_status,
    encode_sc_status,
)
from drivers.sip2.errors import (
    Sip2ChecksumError,
    Sip2Closed,
    Sip2LoginRefused,
    Sip2ProtocolError,
    Sip2Timeout,
    Sip2Unreachable,
)

Monotonic = Callable[[], float]
MAX_FRAME_BYTES = 16384  # no SIP2 reply the door asks for comes near this; more is garbage


@dataclass(frozen=True)
class Sip2Settings:
    """How to reach and talk to one LMS; ValueError at construction for impossible values.

    login_user None means the LMS needs no login (93). patron_message picks Patron Status (23)
    or Patron Information (63) for the check. Timeouts are seconds.
    """

    host: str
    port: int
    institution_id: str = ""
    terminal_password: str = ""
    login_user: str | None = None
    login_password: str = ""
    location_code: str | None = None
    charset: str = "cp850"
    tls: bool = False
    ca_file: str | None = None
    connect_timeout: float = 2.0
    reply_timeout: float = 2.0
    patron_message: Literal["23", "63"] = "23"
    language: str = "000"

    def __post_init__(self) -> None:
        check_charset(self.charset)
        if not self.host:
            raise ValueError("SIP2 host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"SIP2 port must be 1-65535, got {self.port}")
        if self.connect_timeout <= 0 or self.reply_timeout <= 0:
            raise ValueError("SIP2 timeouts must be positive")
        if self.patron_message not in ("23", "63"):
            raise ValueError(f"SIP2 patron message must be 23 or 63, got {self.patron_message!r}")
        if not (len(self.language) == 3 and self.language.isdigit()):
            raise ValueError(f"SIP2 language must be 3 digits, got {self.language!r}")
        if self.ca_file and not self.tls:
            raise ValueError("a SIP2 CA file is set but TLS is off")


def tls_context(settings: Sip2Settings) -> ssl.SSLContext:
    """A client context that verifies the LMS's certificate and host name (against ca_file
    when given, else the system's trust store)."""
    return ssl.create_default_context(cafile=settings.ca_file)


class Sip2Connection:
    """A connected (and, when configured, logged-in) SIP2 session; open it with `open`."""

    def __init__(self, settings: Sip2Settings, sock: socket.socket, clock: Monotonic) -> None:
        self.settings = settings
        self._sock = sock
        self._clock = clock
        self._buffer = bytearray()
        self._sequence = 0
        self.closed = False

    @classmethod
    def open(
        cls,
        settings: Sip2Settings,
        deadline: float,
        *,
        clock: Monotonic = time.monotonic,
        context: ssl.SSLContext | None = None,
    ) -> Sip2Connection:
        """Connect (TLS when configured), then log in when configured; all before `deadline`
        and within connect_timeout for the TCP and TLS part."""
        connect_by = min(deadline, clock() + settings.connect_timeout)
        remaining = connect_by - clock()
        if remaining <= 0:
            raise Sip2Timeout("no time left to connect to the LMS")
        try:
            sock = socket.create_connection((settings.host, settings.port), timeout=remaining)
        except TimeoutError:
            raise Sip2Timeout(f"connecting to the LMS at {settings.host}:{settings.port} timed out") from None
        except OSError as error:
            raise Sip2Unreachable(
                f"cannot connect to the LMS at {settings.host}:{settings.port}: {error.strerror or error}"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one small frame each way
        if settings.tls:
            try:
                sock.settimeout(max(connect_by - clock(), 0.001))
                sock = (context or tls_context(settings)).wrap_socket(sock, server_hostname=settings.host)
            except TimeoutError:
                sock.close()
                raise Sip2Timeout("the TLS handshake with the LMS timed out") from None
            except (ssl.SSLError, OSError) as error:
                sock.close()
                raise Sip2Unreachable(f"TLS with the LMS failed: {error}") from None
        connection = cls(settings, sock, clock)
        if settings.login_user is not None:
            try:
                connection.login(deadline)
            except BaseException:
                connection.close()
                raise
        return connection

    # --- the messages -----------------------------------------------------------------------

    def login(self, deadline: float) -> None:
        """93 -> 94; Sip2LoginRefused when the LMS says ok=0."""
        settings = self.settings
        assert settings.login_user is not None
        reply = self._exchange(
            lambda seq: encode_login(
                settings.login_user or "",
                settings.login_password,
                settings.location_code,
                sequence=seq,
                charset=settings.charset,
            ),
            deadline,
        )
        if not isinstance(reply, LoginReply):
            raise Sip2ProtocolError(f"the LMS answered the login with {type(reply).__name__}, not 94")
        if not reply.ok:
            raise Sip2LoginRefused(
                "the LMS refused the SIP2 login (94 with ok=0): check the SIP2 user and password"
            )

    def sc_status(self, deadline: float) -> AcsStatus:
        """99 -> 98: the LMS's status; also the keep-alive heartbeat."""
        reply = self._exchange(
            lambda seq: encode_sc_status(sequence=seq, charset=self.settings.charset), deadline
        )
        if not isinstance(reply, AcsStatus):
            raise Sip2ProtocolError(f"the LMS answered SC status with {type(reply).__name__}, not 98")
        return reply

    def check_patron(self, barcode: str, pin: str, deadline: float, moment: datetime) -> PatronReply:
        """23 -> 24 or 63 -> 64 (per settings) with the PIN in AD; ValueError for an empty PIN."""
        settings = self.settings
        encode = encode_patron_status if settings.patron_message == "23" else encode_patron_information

        def build(seq: int) -> bytes:
            return encode(
                institution=settings.institution_id,
                barcode=barcode,
                pin=pin,
                terminal_password=settings.terminal_password,
                language=settings.language,
                moment=moment,
                sequence=seq,
                charset=settings.charset,
            )

        reply = self._exchange(build, deadline, barcode=barcode)
        expected = "24" if settings.patron_message == "23" else "64"
        if not isinstance(reply, PatronReply) or reply.command != expected:
            raise Sip2ProtocolError(
                f"the LMS answered {settings.patron_message} with something other than {expected}"
            )
        return reply

    # --- transport --------------------------------------------------------------------------

    def _exchange(
        self, build: Callable[[int], bytes], deadline: float, *, barcode: str | None = None
    ) -> Reply:
        """Send one request, return its verified reply: at most one 97 for a damaged reply and
        one resend of our request when the LMS answers 96."""
        if self.closed:
            raise Sip2Closed("the SIP2 connection is closed")
        sequence = self._sequence
        self._sequence = (self._sequence + 1) % 10
        frame = build(sequence)  # ValueError for bad input happens before anything is sent
        self._send(frame, deadline)
        asked_for_resend = resent_request = False
        while True:
            raw = self._read_frame(deadline)
            try:
                decoded = decode_reply(raw, self.settings.charset, barcode=barcode)
            except Sip2ChecksumError:
                if asked_for_resend:
                    raise
                asked_for_resend = True
                self._send(encode_acs_resend(), deadline)
                continue
            if isinstance(decoded.message, ResendRequest):
                if resent_request:
                    raise Sip2ProtocolError(
                        "the LMS asked twice for a resend (96): it cannot read our frames"
                    )
                resent_request = True
                self._send(frame, deadline)
                continue
            if decoded.sequence is not None and decoded.sequence != sequence:
                raise Sip2ProtocolError(
                    f"reply has sequence AY{decoded.sequence}, the request had AY{sequence}"
                )
            return decoded.message

    def _send(self, frame: bytes, deadline: float) -> None:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise Sip2Timeout("no time left to send to the LMS")
        try:
            self._sock.settimeout(remaining)
            self._sock.sendall(frame)
        except TimeoutError:
            raise Sip2Timeout("sending to the LMS timed out") from None
        except OSError as error:
            raise Sip2Closed(f"sending to the LMS failed: {error.strerror or error}") from None

    def _read_frame(self, deadline: float) -> bytes:
        """Bytes up to and including the next CR (a LF after a CR is skipped)."""
        while True:
            while self._buffer[:1] == b"\n":
                del self._buffer[:1]
            end = self._buffer.find(b"\r")
            if end >= 0:
                frame = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return frame
            if len(self._buffer) > MAX_FRAME_BYTES:
                raise Sip2ProtocolError(f"no end of frame (CR) within {MAX_FRAME_BYTES} bytes")
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise Sip2Timeout("the LMS did not answer in time")
            try:
                self._sock.settimeout(remaining)
                data = self._sock.recv(4096)
            except TimeoutError:
                raise Sip2Timeout("the LMS did not answer in time") from None
            except OSError as error:
                raise Sip2Closed(
                    f"reading from the LMS failed: {error.strerror or error}",
                    reply_started=bool(self._buffer),
                ) from None
            if not data:
                started = bool(self._buffer)
                raise Sip2Closed(
                    "the LMS closed the connection" + (" mid-reply" if started else ""), reply_started=started
                )
            self._buffer += data

    def peer_closed(self) -> bool:
        """Whether an idle connection has something to read, which for SIP2 (the LMS never
        speaks first) means the LMS closed or reset it, or sent garbage: unusable either way."""
        if self.closed:
            return True
        if self._buffer:
            return True
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        if not self.closed:
            self.closed = True
            try:
                self._sock.close()
            except OSError:
                pass
