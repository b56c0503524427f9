"""What can go wrong talking SIP2 to the library system, as exceptions the door can act on.

The low-level errors (`Sip2Error` and its subclasses) say exactly what happened on one
connection; the pool turns every one of them into `LmsUnavailable` with a short `reason` code,
because to the door they all mean the same thing: the LMS did not answer in time, so the
branch's offline policy decides. No message here ever carries a card number or a PIN.
"""

from __future__ import annotations


class Sip2Error(Exception):
    """Base of everything one SIP2 connection can fail with."""


class Sip2ProtocolError(Sip2Error):
    """A frame from the LMS that is not valid SIP2 (garbled, truncated, wrong reply type)."""


class Sip2ChecksumError(Sip2ProtocolError):
    """A reply whose AZ checksum does not match its bytes (a resend may cure it)."""


class Sip2Timeout(Sip2Error):
    """The LMS did not answer (or accept the connection) before the deadline."""


class Sip2Closed(Sip2Error):
    """The connection was closed or reset; `reply_started` says whether reply bytes had come."""

    def __init__(self, message: str, *, reply_started: bool = False) -> None:
        super().__init__(message)
        self.reply_started = reply_started


class Sip2Unreachable(Sip2Error):
    """The TCP connect or the TLS handshake failed (refused, no route, bad certificate)."""


class Sip2LoginRefused(Sip2Error):
    """The LMS answered the login (93) with 94 and ok=0: wrong SIP2 user or password."""


# Reason codes of LmsUnavailable (stable strings: the lead's events and metrics use them).
REASON_TIMEOUT = "timeout"
REASON_UNREACHABLE = "unreachable"
REASON_CLOSED = "closed"
REASON_GARBLED = "garbled"
REASON_CHECKSUM = "checksum"
REASON_LOGIN_REFUSED = "login_refused"
REASON_NOT_CONNECTED = "not_connected"
REASON_POOL_CLOSED = "pool_closed"


def reason_for(error: Sip2Error) -> str:
    """The LmsUnavailable reason code for a connection error."""
    if isinstance(error, Sip2ChecksumError):
        return REASON_CHECKSUM
    if isinstance(error, Sip2ProtocolError):
        return REASON_GARBLED
    if isinstance(error, Sip2Timeout):
        return REASON_TIMEOUT
    if isinstance(error, Sip2Closed):
        return REASON_CLOSED
    if isinstance(error, Sip2LoginRefused):
        return REASON_LOGIN_REFUSED
    return REASON_UNREACHABLE


class LmsUnavailable(Exception):
    """The LMS gave no usable answer within the check's timeout; `reason` is a REASON_* code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"LMS unavailable ({reason}){': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail
