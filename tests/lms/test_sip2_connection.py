"""One SIP2 connection against the real pysip2 server: login, SC status, both patron messages,
sequence numbers, the two resend paths (97 for a damaged reply, our request again after a 96),
and TLS with a CA file."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from controller.sim.lms_server import RunningServer
from drivers.sip2.codec import AcsStatus, credentials_accepted
from drivers.sip2.connection import Sip2Connection, Sip2Settings
from drivers.sip2.errors import Sip2ChecksumError, Sip2LoginRefused, Sip2Unreachable
from tests.lms import fault_proxy as faults
from tests.lms.conftest import HANG_GUARD, settings_for
from tests.lms.fault_proxy import FaultProxy

MOMENT = datetime(2026, 12, 3, 21, 0, 0)
GOOD = ("29990000000001", "1234")


def _open(settings: Sip2Settings) -> Sip2Connection:
    return Sip2Connection.open(settings, time.monotonic() + HANG_GUARD)


def _deadline() -> float:
    return time.monotonic() + HANG_GUARD


def test_login_then_status_then_both_patron_messages(lms_with_login: RunningServer) -> None:
    connection = _open(settings_for(lms_with_login.port, login=True))
    try:
        status = connection.sc_status(_deadline())
        assert isinstance(status, AcsStatus) and status.online and status.institution_id == "BIB"
        assert credentials_accepted(connection.check_patron(*GOOD, _deadline(), MOMENT))
        information = _open(settings_for(lms_with_login.port, login=True, patron_message="63"))
        try:
            reply = information.check_patron(*GOOD, _deadline(), MOMENT)
            assert reply.command == "64" and credentials_accepted(reply)
        finally:
            information.close()
    finally:
        connection.close()
    assert lms_with_login.seen.count("93") == 2


def test_a_wrong_sip2_password_is_a_refused_login(lms_with_login: RunningServer) -> None:
    with pytest.raises(Sip2LoginRefused, match="check the SIP2 user and password"):
        _open(settings_for(lms_with_login.port, login_user="door", login_password="wrong"))


def test_sequence_numbers_count_0_to_9_and_wrap(proxy: FaultProxy) -> None:
    connection = _open(settings_for(proxy.port))
    try:
        for _ in range(11):
            connection.sc_status(_deadline())
    finally:
        connection.close()
    digits = [frame[frame.rindex(b"AY") + 2 :][:1].decode() for frame in proxy.requests]
    assert digits == [str(n % 10) for n in range(11)]


def test_a_damaged_reply_gets_one_97_and_the_resent_reply_counts(proxy: FaultProxy) -> None:
    connection = _open(settings_for(proxy.port))
    try:
        proxy.set_fault(faults.BAD_CHECKSUM_ONCE)
        assert credentials_accepted(connection.check_patron(*GOOD, _deadline(), MOMENT))
    finally:
        connection.close()
    assert proxy.requests_starting(b"97") == 1


def test_a_reply_damaged_twice_fails_after_exactly_one_97(proxy: FaultProxy) -> None:
    connection = _open(settings_for(proxy.port))
    try:
        proxy.set_fault(faults.BAD_CHECKSUM_ALWAYS)
        with pytest.raises(Sip2ChecksumError):
            connection.check_patron(*GOOD, _deadline(), MOMENT)
    finally:
        connection.close()
    assert proxy.requests_starting(b"97") == 1


def test_a_96_from_the_lms_gets_the_request_once_more(proxy: FaultProxy) -> None:
    connection = _open(settings_for(proxy.port))
    try:
        proxy.set_fault(faults.ASK_RESEND_ONCE)
        assert credentials_accepted(connection.check_patron(*GOOD, _deadline(), MOMENT))
    finally:
        connection.close()
    sent = [frame for frame in proxy.requests if frame.startswith(b"23")]
    assert len(sent) == 2 and sent[0] == sent[1]  # the same frame, same AY and AZ


def test_tls_with_the_lms_ca_file(tls_proxy: FaultProxy, tls_files: tuple[Path, Path]) -> None:
    cert, _ = tls_files
    connection = _open(settings_for(tls_proxy.port, tls=True, ca_file=str(cert)))
    try:
        assert credentials_accepted(connection.check_patron(*GOOD, _deadline(), MOMENT))
    finally:
        connection.close()


def test_tls_refuses_a_certificate_the_ca_file_does_not_vouch_for(tls_proxy: FaultProxy) -> None:
    with pytest.raises(Sip2Unreachable, match="TLS with the LMS failed"):
        _open(settings_for(tls_proxy.port, tls=True))  # the system trust store: self-signed fails


def test_nothing_listening_is_unreachable_not_a_crash(lms: RunningServer) -> None:
    port = lms.port
    lms.stop()
    with pytest.raises(Sip2Unreachable, match="cannot connect to the LMS"):
        _open(settings_for(port))


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"charset": "utf-16"}, "not supported"),
        ({"port": 0}, "port must be"),
        ({"reply_timeout": 0}, "timeouts must be positive"),
        ({"patron_message": "25"}, "23 or 63"),
        ({"language": "nl"}, "3 digits"),
        ({"ca_file": "/x.pem"}, "TLS is off"),
    ],
)
def test_impossible_settings_are_refused_by_name(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Sip2Settings(**{"host": "127.0.0.1", "port": 6001, **overrides})  # type: ignore[arg-type]
