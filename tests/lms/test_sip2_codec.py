"""The SIP2 codec against pysip2's independent codec: our requests decode there, its replies
decode here, and damaged frames fail with an error that names the damage."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pysip2 import (
    LoginRequest,
    PatronInformationRequest,
    PatronStatusRequest,
    SCStatusRequest,
    decode_message,
    encode_message,
)
from pysip2.models import ACSStatusResponse, LoginResponse, RequestSCResend

from controller.sim.lms_server import PatronInformationWithExtensions, PatronStatusWithExtensions
from drivers.sip2.codec import (
    AcsStatus,
    LoginReply,
    PatronReply,
    ResendRequest,
    check_charset,
    checksum,
    credentials_accepted,
    decode_reply,
    encode_acs_resend,
    encode_login,
    encode_patron_information,
    encode_patron_status,
    encode_sc_status,
)
from drivers.sip2.errors import Sip2ChecksumError, Sip2ProtocolError

MOMENT = datetime(2026, 12, 3, 21, 5, 9)
PATRON = {
    "institution": "BIB",
    "barcode": "29990000000001",
    "pin": "1234",
    "terminal_password": "tp",
    "language": "019",
    "moment": MOMENT,
    "charset": "cp850",
}


def test_checksum_is_the_twos_complement_of_the_byte_sum() -> None:
    # The SIP2 spec's own example: 9300CNuserid|COpassword|AY1AZ -> checksum that sums to 0.
    prefix = b"9300CNuserid|COpassword|AY1AZ"
    value = checksum(prefix)
    assert len(value) == 4 and value == value.upper()
    assert (sum(prefix) + int(value, 16)) & 0xFFFF == 0


def test_patron_status_request_decodes_in_pysip2_with_sequence_and_pin() -> None:
    frame = encode_patron_status(**PATRON, sequence=3)
    decoded = decode_message(frame)  # pysip2 verifies the checksum itself
    assert decoded.sequence_number == 3 and decoded.checksum is not None
    message = decoded.message
    assert isinstance(message, PatronStatusRequest)
    assert (message.patron_identifier, message.patron_password, message.terminal_password) == (
        "29990000000001",
        "1234",
        "tp",
    )
    assert message.transaction_date == "20261203    210509" and message.language == "019"


def test_patron_information_request_decodes_in_pysip2() -> None:
    message = decode_message(encode_patron_information(**PATRON, sequence=9)).message
    assert isinstance(message, PatronInformationRequest)
    assert message.patron_password == "1234" and message.summary == " " * 10


def test_login_and_sc_status_decode_in_pysip2() -> None:
    login = decode_message(encode_login("door", "pw", "Loc1", sequence=0, charset="cp850")).message
    assert isinstance(login, LoginRequest)
    assert (login.login_user_id, login.login_password, login.location_code) == ("door", "pw", "Loc1")
    status = decode_message(encode_sc_status(sequence=1, charset="cp850")).message
    assert isinstance(status, SCStatusRequest) and status.protocol_version == "2.00"


def test_acs_resend_request_is_97_with_only_a_checksum() -> None:
    frame = encode_acs_resend()
    assert frame.startswith(b"97AZ") and frame.endswith(b"\r")
    assert (sum(frame[:4]) + int(frame[4:8], 16)) & 0xFFFF == 0


@pytest.mark.parametrize("pin", ["", "12|34", "12\r34"])
def test_a_pin_that_is_empty_or_could_break_the_frame_is_never_encoded(pin: str) -> None:
    with pytest.raises(ValueError, match="PIN"):
        encode_patron_status(**{**PATRON, "pin": pin}, sequence=1)


def test_a_card_number_the_charset_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="card number has characters the LMS charset cp850"):
        encode_patron_status(**{**PATRON, "barcode": "€1"}, sequence=1)


def test_charset_must_be_one_lms_use() -> None:
    assert check_charset("latin-1") == "latin-1"
    with pytest.raises(ValueError, match="not supported"):
        check_charset("utf-16")
    with pytest.raises(ValueError, match="unknown SIP2 charset"):
        check_charset("klingon")


def _reply(message: object, sequence: int = 4, charset: str = "cp850") -> bytes:
    return encode_message(message, sequence_number=sequence, checksum=True, encoding=charset)  # type: ignore[arg-type]


def _patron_24(**fields: object) -> PatronStatusWithExtensions:
    base: dict[str, object] = {
        "patron_status": " " * 14,
        "language": "000",
        "transaction_date": "20261203    210509",
        "institution_id": "BIB",
        "patron_identifier": "29990000000001",
        "personal_name": "Jan",
    }
    return PatronStatusWithExtensions(**{**base, **fields})  # type: ignore[arg-type]


def test_patron_status_reply_keeps_the_decision_fields_and_no_name() -> None:
    frame = _reply(
        _patron_24(
            patron_status="    Y    Y    ",
            valid_patron="Y",
            valid_patron_password="Y",
            birth_date="20100315",
            patron_class="JEUGD",
            expiry="20271231    000000",
            screen_message=("Welkom", "Tweede regel"),
        )
    )
    decoded = decode_reply(frame, "cp850", barcode="29990000000001")
    assert decoded.sequence == 4
    reply = decoded.message
    assert isinstance(reply, PatronReply)
    assert reply.command == "24" and reply.valid_patron is True and reply.valid_pin is True
    assert reply.status == tuple(n in (4, 9) for n in range(14)) and reply.card_lost
    assert reply.birth_date == date(2010, 3, 15) and reply.expiry == date(2027, 12, 31)
    assert reply.patron_class == "JEUGD" and reply.screen_message == ("Welkom", "Tweede regel")
    assert "Jan" not in repr(reply) and credentials_accepted(reply)


def test_patron_information_reply_parses_and_drops_the_address() -> None:
    frame = _reply(
        PatronInformationWithExtensions(
            patron_status=" " * 14,
            language="000",
            transaction_date="20261203    210509",
            hold_items_count="0001",
            overdue_items_count="0000",
            charged_items_count="0002",
            fine_items_count="0000",
            recall_items_count="0000",
            unavailable_holds_count="0000",
            institution_id="BIB",
            patron_identifier="29990000000001",
            personal_name="Jan",
            home_address="Dorpsstraat 1",
            valid_patron="Y",
            valid_patron_password="N",
            birth_date="1990-05-01",
        )
    )
    reply = decode_reply(frame, "cp850").message
    assert isinstance(reply, PatronReply) and reply.command == "64"
    assert reply.valid_pin is False and reply.birth_date == date(1990, 5, 1) and reply.expiry is None
    assert "Dorpsstraat" not in repr(reply) and not credentials_accepted(reply)


@pytest.mark.parametrize("cq", [None, ""])
def test_unknown_card_with_missing_or_empty_cq_is_never_accepted(cq: str | None) -> None:
    reply = decode_reply(_reply(_patron_24(valid_patron="N", valid_patron_password=cq)), "cp850").message
    assert isinstance(reply, PatronReply)
    assert reply.valid_patron is False and reply.valid_pin is None and not credentials_accepted(reply)


def test_valid_patron_with_missing_cq_is_not_accepted() -> None:
    reply = decode_reply(_reply(_patron_24(valid_patron="Y")), "cp850").message
    assert isinstance(reply, PatronReply) and reply.valid_pin is None and not credentials_accepted(reply)


@pytest.mark.parametrize("charset", ["cp850", "latin-1", "utf-8"])
def test_screen_messages_decode_in_the_configured_charset(charset: str) -> None:
    frame = _reply(_patron_24(valid_patron="Y", screen_message=("Ürgent: één pas",)), charset=charset)
    reply = decode_reply(frame, charset).message
    assert isinstance(reply, PatronReply) and reply.screen_message == ("Ürgent: één pas",)


def test_login_status_and_resend_replies() -> None:
    assert decode_reply(_reply(LoginResponse(ok="1")), "cp850").message == LoginReply(ok=True)
    assert decode_reply(_reply(LoginResponse(ok="0")), "cp850").message == LoginReply(ok=False)
    status = ACSStatusResponse(
        online_status="Y",
        checkin_ok="N",
        checkout_ok="N",
        acs_renewal_policy="N",
        status_update_ok="N",
        offline_ok="Y",
        timeout_period="030",
        retries_allowed="003",
        date_time_sync="20261203    210509",
        protocol_version="2.00",
        institution_id="BIB",
        supported_messages="Y" * 16,
    )
    acs = decode_reply(_reply(status), "cp850").message
    assert (
        isinstance(acs, AcsStatus)
        and acs.online
        and acs.institution_id == "BIB"
        and acs.protocol_version == "2.00"
    )
    resend = decode_reply(encode_message(RequestSCResend(), checksum=True), "cp850")
    assert resend.message == ResendRequest() and resend.sequence is None


def _with_checksum(body: bytes) -> bytes:
    prefix = body + b"AY1AZ"
    return prefix + checksum(prefix).encode() + b"\r"


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (b"24              00020261203    210509AOBIB|AAx|BLY|\r", "no AZ checksum"),
        (b"24              00020261203    210509AY1AZZZZZ\r", "not 4 hex digits"),
        (_with_checksum(b"24    "), "shorter than its 35 fixed"),
        (_with_checksum(b"24XXXXXXXXXXXXXX00020261203    210509BLY|"), "patron status that is not"),
        (_with_checksum(b"24              00020261203    210509BLQ|"), "BL is neither Y nor N"),
        (_with_checksum(b"24              00020261203    210509PB1990|"), "PB birth date is not a date"),
        (_with_checksum(b"24              00020261203    210509PA20261399|"), "PA expiry date is not a date"),
        (_with_checksum(b"24              00020261203    210509\xff\xfe|"), "field without a two-letter tag"),
        (_with_checksum(b"12garbage"), "command id '12'"),
        (_with_checksum(b"94x"), "no ok flag"),
        (_with_checksum(b"98YY"), "shorter than its 34 fixed"),
        (_with_checksum(b"24 \x00"), "NUL byte"),
    ],
)
def test_a_garbled_reply_names_what_is_wrong(frame: bytes, problem: str) -> None:
    with pytest.raises(Sip2ProtocolError, match=problem):
        decode_reply(frame, "cp850")


def test_a_reply_that_is_not_valid_utf8_is_garbled_not_a_crash() -> None:
    with pytest.raises(Sip2ProtocolError, match="not valid utf-8"):
        decode_reply(_with_checksum(b"24\xff\xfe"), "utf-8")


def test_a_flipped_byte_is_a_checksum_error() -> None:
    frame = bytearray(_reply(_patron_24(valid_patron="N")))
    frame[frame.index(b"BLN") + 2] = ord("Y")
    with pytest.raises(Sip2ChecksumError, match="does not match its bytes"):
        decode_reply(bytes(frame), "cp850")


def test_a_reply_about_another_card_is_refused() -> None:
    with pytest.raises(Sip2ProtocolError, match="another card"):
        decode_reply(_reply(_patron_24(valid_patron="Y")), "cp850", barcode="29990000000099")
