"""SIP2 frames as bytes: the requests the door sends and the replies it understands.

A frame is a command id, fixed-width fields, `XX<value>|` variable fields, then the error
detection trailer `AY<seq>AZ<checksum>` and a carriage return. The checksum is the 16-bit two's
complement of the byte sum up to and including `AZ`, as 4 upper-case hex digits; a frame is
intact when (sum + checksum) & 0xFFFF == 0. The door always sends the trailer and demands it
back, so a flipped byte on the line is caught instead of read as "valid patron".

Only what the door needs is encoded (login 93, SC status 99, patron status 23, patron
information 63, ACS resend 97) and parsed (94, 98, 24, 64, SC resend 96). Pure functions: no
I/O, no clock (the caller passes the transaction time).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import date, datetime

from drivers.sip2.errors import Sip2ChecksumError, Sip2ProtocolError

FIELD_DELIMITER = "|"
CHARSETS = ("cp850", "latin-1", "utf-8")
STATUS_POSITIONS = 14
CARD_LOST_POSITION = 4  # patron status position 4: "card reported lost"
MAX_FIELD_BYTES = 255
PROTOCOL_VERSION = "2.00"


# --- checksums and framing -----------------------------------------------------------------


def checksum(prefix: bytes) -> str:
    """The AZ value for `prefix` (every byte from the command id through the letters 'AZ')."""
    return f"{(-sum(prefix)) & 0xFFFF:04X}"


def _framed(body: bytes, sequence: int | None) -> bytes:
    trailer = b"AZ" if sequence is None else f"AY{sequence}AZ".encode("ascii")
    prefix = body + trailer
    return prefix + checksum(prefix).encode("ascii") + b"\r"


def check_charset(charset: str) -> str:
    """The charset if it is one SIP2 LMSs use (cp850, latin-1, utf-8); ValueError otherwise."""
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        raise ValueError(f"unknown SIP2 charset {charset!r}: use one of {', '.join(CHARSETS)}") from None
    if name not in {codecs.lookup(known).name for known in CHARSETS}:
        raise ValueError(f"SIP2 charset {charset!r} is not supported: use one of {', '.join(CHARSETS)}")
    return charset


def _field(tag: str, name: str, value: str, charset: str) -> bytes:
    """One variable field `TAGvalue|`; ValueError naming the field (never its value) if the
    value could break the frame (delimiter, CR, control characters) or not fit the charset."""
    if FIELD_DELIMITER in value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(f"{name} contains '|' or a control character, which SIP2 cannot carry")
    try:
        data = value.encode(charset)
    except UnicodeEncodeError:
        raise ValueError(f"{name} has characters the LMS charset {charset} cannot carry") from None
    if len(data) > MAX_FIELD_BYTES:
        raise ValueError(f"{name} is longer than SIP2's {MAX_FIELD_BYTES} bytes")
    return tag.encode("ascii") + data + FIELD_DELIMITER.encode("ascii")


def sip_datetime(moment: datetime) -> str:
    """SIP2's 18-character transaction date: YYYYMMDD, 4 spaces (local time zone), HHMMSS."""
    return moment.strftime("%Y%m%d") + "    " + moment.strftime("%H%M%S")


def _check_sequence(sequence: int) -> None:
    if not 0 <= sequence <= 9:
        raise ValueError(f"AY sequence number must be 0-9, got {sequence}")


# --- requests ------------------------------------------------------------------------------


def encode_login(user: str, password: str, location: str | None, *, sequence: int, charset: str) -> bytes:
    """Login 93: plain-text user id (CN) and password (CO), optional location code (CP)."""
    _check_sequence(sequence)
    body = b"9300" + _field("CN", "SIP2 login user", user, charset)
    body += _field("CO", "SIP2 login password", password, charset)
    if location:
        body += _field("CP", "SIP2 location code", location, charset)
    return _framed(body, sequence)


def encode_sc_status(*, sequence: int, charset: str, status_code: str = "0") -> bytes:
    """SC status 99: status 0 (SC ok), no printer (width 000), protocol version 2.00."""
    _check_sequence(sequence)
    return _framed(f"99{status_code}000{PROTOCOL_VERSION}".encode("ascii"), sequence)


def _patron_fields(institution: str, barcode: str, pin: str, terminal_password: str, charset: str) -> bytes:
    if not barcode:
        raise ValueError("a patron check needs a card number")
    if not pin:
        raise ValueError("an empty PIN is never sent: some LMSs accept a blank password")
    return (
        _field("AO", "institution id", institution, charset)
        + _field("AA", "card number", barcode, charset)
        + _field("AC", "terminal password", terminal_password, charset)
        + _field("AD", "PIN", pin, charset)
    )


def encode_patron_status(
    *,
    institution: str,
    barcode: str,
    pin: str,
    terminal_password: str,
    language: str,
    moment: datetime,
    sequence: int,
    charset: str,
) -> bytes:
    """Patron status 23 with the PIN in AD; ValueError for an empty barcode or PIN."""
    _check_sequence(sequence)
    fields = _patron_fields(institution, barcode, pin, terminal_password, charset)
    return _framed(f"23{language:.3}{sip_datetime(moment)}".encode("ascii") + fields, sequence)


def encode_patron_information(
    *,
    institution: str,
    barcode: str,
    pin: str,
    terminal_password: str,
    language: str,
    moment: datetime,
    sequence: int,
    charset: str,
) -> bytes:
    """Patron information 63 (no item lists asked: summary all blank) with the PIN in AD."""
    _check_sequence(sequence)
    fields = _patron_fields(institution, barcode, pin, terminal_password, charset)
    head = f"63{language:.3}{sip_datetime(moment)}{' ' * 10}".encode("ascii")
    return _framed(head + fields, sequence)


def encode_acs_resend() -> bytes:
    """Request ACS resend 97: 'your last reply arrived damaged, send it again' (AZ only)."""
    return _framed(b"97", None)


# --- replies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginReply:
    """94: whether the LMS accepted the SIP2 login."""

    ok: bool


@dataclass(frozen=True)
class AcsStatus:
    """98: the LMS's own status; `online` False means it refuses transactions right now."""

    online: bool
    protocol_version: str
    institution_id: str
    supported_messages: str
    screen_message: tuple[str, ...]


@dataclass(frozen=True)
class ResendRequest:
    """96: the LMS could not read our last frame and asks for it again."""


@dataclass(frozen=True)
class PatronReply:
    """24 or 64, reduced to what an entry decision may use: no name, address or item lists.

    valid_patron is BL and valid_pin is CQ (None when the field is missing or empty, which some
    LMSs send for unknown cards). status holds the 14 patron-status positions (True = 'Y',
    i.e. that privilege is denied). Dates are None when the LMS does not send them.
    """

    command: str
    valid_patron: bool | None
    valid_pin: bool | None
    status: tuple[bool, ...]
    birth_date: date | None
    patron_class: str | None
    expiry: date | None
    screen_message: tuple[str, ...]

    @property
    def card_lost(self) -> bool:
        """Patron status position 4: the card was reported lost."""
        return self.status[CARD_LOST_POSITION]


def credentials_accepted(reply: PatronReply) -> bool:
    """True only for BL=Y and CQ=Y: a missing or empty CQ is a refusal, never a pass.

    This is only the LMS's own verdict on card and PIN; blocks, age, expiry and the branch's
    other eligibility rules are decided by the controller, not here.
    """
    return reply.valid_patron is True and reply.valid_pin is True


Reply = LoginReply | AcsStatus | ResendRequest | PatronReply


@dataclass(frozen=True)
class DecodedReply:
    """A verified reply and the AY sequence number it echoed (None when it sent none)."""

    message: Reply
    sequence: int | None


def _unframe(raw: bytes) -> tuple[bytes, int | None]:
    """The frame's body (command id through the last field) and its AY; raises if the AZ
    trailer is missing or does not match."""
    frame = raw[:-1] if raw.endswith(b"\r") else raw
    if b"\x00" in frame:
        raise Sip2ProtocolError("reply contains a NUL byte")
    if len(frame) < 8 or frame[-6:-4] != b"AZ":
        raise Sip2ProtocolError("reply has no AZ checksum trailer")
    digits = frame[-4:]
    try:
        value = int(digits.decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError):
        raise Sip2ProtocolError("reply's AZ checksum is not 4 hex digits") from None
    if (sum(frame[:-4]) + value) & 0xFFFF:
        raise Sip2ChecksumError(
            f"reply's AZ checksum {digits.decode('ascii')} does not match its bytes "
            f"(expected {checksum(frame[:-4])})"
        )
    body = frame[:-6]
    if len(body) >= 3 and body[-3:-1] == b"AY" and body[-1:].isdigit():
        return body[:-3], int(body[-1:])
    return body, None


def _variable_fields(text: str, what: str) -> dict[str, list[str]]:
    """The `XXvalue|` fields after the fixed part, by tag (a tag may repeat, e.g. AF)."""
    fields: dict[str, list[str]] = {}
    pieces = text.split(FIELD_DELIMITER)
    if pieces and pieces[-1] == "":
        pieces.pop()
    for piece in pieces:
        tag = piece[:2]
        if len(tag) < 2 or not (tag.isascii() and tag.isalnum() and tag.upper() == tag):
            raise Sip2ProtocolError(f"{what} has a field without a two-letter tag")
        fields.setdefault(tag, []).append(piece[2:])
    return fields


def _first(fields: dict[str, list[str]], tag: str) -> str | None:
    values = fields.get(tag)
    return values[0] if values else None


def _yes_no(value: str | None, tag: str) -> bool | None:
    """Y -> True, N -> False, missing or empty -> None; anything else is garbled."""
    if value is None or value.strip() == "":
        return None
    if value in ("Y", "N"):
        return value == "Y"
    raise Sip2ProtocolError(f"{tag} is neither Y nor N")


def _sip_date(value: str | None, tag: str) -> date | None:
    """A date field: YYYYMMDD (optionally followed by the rest of an 18-char SIP2 date) or
    YYYY-MM-DD; empty -> None. The value is not echoed (a birth date is personal data)."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    try:
        if len(text) >= 10 and text[4] == "-" and text[7] == "-":
            return date.fromisoformat(text[:10])
        if len(text) >= 8 and text[:8].isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        pass
    raise Sip2ProtocolError(f"{tag} is not a date (expected YYYYMMDD)")


def _patron_reply(command: str, text: str, fixed: int, barcode: str | None) -> PatronReply:
    what = f"patron reply {command}"
    if len(text) < fixed:
        raise Sip2ProtocolError(f"{what} is shorter than its {fixed} fixed characters")
    status_text = text[:STATUS_POSITIONS]
    if any(char not in "Y N" for char in status_text):
        raise Sip2ProtocolError(f"{what} has a patron status that is not Y, N or blank")
    fields = _variable_fields(text[fixed:], what)
    if barcode is not None and _first(fields, "AA") not in (None, barcode):
        raise Sip2ProtocolError(f"{what} is about another card than the one asked for")
    return PatronReply(
        command=command,
        valid_patron=_yes_no(_first(fields, "BL"), "BL"),
        valid_pin=_yes_no(_first(fields, "CQ"), "CQ"),
        status=tuple(char == "Y" for char in status_text),
        birth_date=_sip_date(_first(fields, "PB"), "PB birth date"),
        patron_class=_first(fields, "PC"),
        expiry=_sip_date(_first(fields, "PA"), "PA expiry date"),
        screen_message=tuple(fields.get("AF", ())),
    )


_ACS_STATUS_FIXED = 6 + 3 + 3 + 18 + 4  # six Y/N flags, timeout, retries, date, version
_PATRON_STATUS_FIXED = STATUS_POSITIONS + 3 + 18  # status, language, transaction date
_PATRON_INFORMATION_FIXED = _PATRON_STATUS_FIXED + 6 * 4  # plus six item counts


def decode_reply(raw: bytes, charset: str, *, barcode: str | None = None) -> DecodedReply:
    """Verify and parse one frame from the LMS (with or without its trailing CR).

    Raises Sip2ChecksumError for an AZ mismatch and Sip2ProtocolError for anything else that
    is not a 94, 96, 98, 24 or 64 the door can read; the message names what is wrong. With
    `barcode`, a patron reply about another card is refused (a stale or crossed reply).
    """
    body, sequence = _unframe(raw)
    try:
        text = body.decode(charset)
    except UnicodeDecodeError:
        raise Sip2ProtocolError(f"reply is not valid {charset}") from None
    command, rest = text[:2], text[2:]
    message: Reply
    if command == "96":
        message = ResendRequest()
    elif command == "94":
        if rest[:1] not in ("0", "1"):
            raise Sip2ProtocolError("login reply 94 has no ok flag 0 or 1")
        message = LoginReply(ok=rest[0] == "1")
    elif command == "98":
        if len(rest) < _ACS_STATUS_FIXED:
            raise Sip2ProtocolError(f"ACS status 98 is shorter than its {_ACS_STATUS_FIXED} fixed characters")
        fields = _variable_fields(rest[_ACS_STATUS_FIXED:], "ACS status 98")
        message = AcsStatus(
            online=rest[0] == "Y",
            protocol_version=rest[30:34],
            institution_id=_first(fields, "AO") or "",
            supported_messages=_first(fields, "BX") or "",
            screen_message=tuple(fields.get("AF", ())),
        )
    elif command == "24":
        message = _patron_reply(command, rest, _PATRON_STATUS_FIXED, barcode)
    elif command == "64":
        message = _patron_reply(command, rest, _PATRON_INFORMATION_FIXED, barcode)
    else:
        raise Sip2ProtocolError(f"reply has command id {command!r}, not one the door asked for")
    return DecodedReply(message=message, sequence=sequence)
