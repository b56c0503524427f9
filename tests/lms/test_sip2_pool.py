"""The pooled patron check against the real pysip2 server, and through the fault proxy for a
misbehaving one: every answer the door can get, and every way the LMS can fail, ending in a
typed reply or LmsUnavailable within the timeout; the pool recovers after each failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date

import pytest

from controller.sim.lms_server import RunningServer, build_server
from drivers.sip2.codec import CARD_LOST_POSITION, credentials_accepted
from drivers.sip2.errors import (
    REASON_CHECKSUM,
    REASON_CLOSED,
    REASON_GARBLED,
    REASON_NOT_CONNECTED,
    REASON_POOL_CLOSED,
    REASON_TIMEOUT,
    LmsUnavailable,
)
from drivers.sip2.pool import Sip2Pool
from tests.lms import fault_proxy as faults
from tests.lms.conftest import HANG_GUARD, settings_for
from tests.lms.fault_proxy import FaultProxy

MakePool = Callable[..., Sip2Pool]
VALID, LOST, MINOR, EXPIRED, BARRED, BARE = (f"2999000000000{n}" for n in range(1, 7))
PINS = {VALID: "1234", LOST: "2345", MINOR: "3456", EXPIRED: "4567", BARRED: "5678", BARE: "6789"}


@pytest.fixture(params=["23", "63"])
def pool(request: pytest.FixtureRequest, lms: RunningServer, make_pool: MakePool) -> Sip2Pool:
    """A ready pool on the demo server, once with patron status and once with information."""
    return make_pool(settings_for(lms.port, patron_message=request.param))


def test_valid_card_and_pin(pool: Sip2Pool) -> None:
    reply = pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD)
    assert reply.command == ("24" if pool.settings.patron_message == "23" else "64")
    assert reply.valid_patron is True and reply.valid_pin is True and credentials_accepted(reply)
    assert reply.status == (False,) * 14 and not reply.card_lost
    assert (reply.birth_date, reply.patron_class, reply.expiry) == (
        date(1990, 5, 1),
        "OPENPLUS",
        date(2030, 1, 1),
    )


def test_wrong_pin(pool: Sip2Pool) -> None:
    reply = pool.check_patron(VALID, "9999", timeout=HANG_GUARD)
    assert reply.valid_patron is True and reply.valid_pin is False and not credentials_accepted(reply)


def test_unknown_card_comes_back_with_no_cq_at_all(pool: Sip2Pool) -> None:
    reply = pool.check_patron("29990000009999", "1234", timeout=HANG_GUARD)
    assert reply.valid_patron is False and reply.valid_pin is None and not credentials_accepted(reply)
    assert reply.screen_message == ("Onbekende pas",)


def test_unknown_card_with_an_empty_cq(make_pool: MakePool) -> None:
    running = RunningServer(build_server(empty_cq_for_unknown=True))
    running.start()
    try:
        reply = make_pool(settings_for(running.port)).check_patron(
            "29990000009999", "1234", timeout=HANG_GUARD
        )
    finally:
        running.stop()
    assert reply.valid_patron is False and reply.valid_pin is None and not credentials_accepted(reply)


def test_status_positions_come_through_one_by_one(pool: Sip2Pool) -> None:
    reply = pool.check_patron(BARRED, PINS[BARRED], timeout=HANG_GUARD)
    assert [n for n, denied in enumerate(reply.status) if denied] == [0, 2, 10]
    assert credentials_accepted(reply)  # blocks are the controller's rules, not the driver's


def test_lost_card(pool: Sip2Pool) -> None:
    reply = pool.check_patron(LOST, PINS[LOST], timeout=HANG_GUARD)
    assert reply.card_lost and reply.status[CARD_LOST_POSITION]


def test_birth_date_and_class_of_a_minor(pool: Sip2Pool) -> None:
    reply = pool.check_patron(MINOR, PINS[MINOR], timeout=HANG_GUARD)
    assert reply.birth_date == date(2014, 3, 2) and reply.patron_class == "JEUGD"


def test_expired(pool: Sip2Pool) -> None:
    assert pool.check_patron(EXPIRED, PINS[EXPIRED], timeout=HANG_GUARD).expiry == date(2020, 1, 1)


def test_an_lms_without_birth_date_class_or_expiry(pool: Sip2Pool) -> None:
    reply = pool.check_patron(BARE, PINS[BARE], timeout=HANG_GUARD)
    assert (reply.birth_date, reply.patron_class, reply.expiry) == (None, None, None)


@pytest.mark.parametrize("pin", ["", "12|34"])
def test_an_empty_or_unsendable_pin_is_never_sent(lms: RunningServer, make_pool: MakePool, pin: str) -> None:
    pool = make_pool(settings_for(lms.port))
    with pytest.raises(ValueError, match="PIN"):
        pool.check_patron(VALID, pin, timeout=HANG_GUARD)
    assert lms.seen.count("23") == 0 and pool.connected == pool.size


def test_login_then_checks(lms_with_login: RunningServer, make_pool: MakePool) -> None:
    pool = make_pool(settings_for(lms_with_login.port, login=True), size=2)
    assert credentials_accepted(pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD))
    assert lms_with_login.seen.count("93") == 2 and lms_with_login.seen.count("99") == 2


def test_a_refused_login_leaves_the_pool_unconnected(
    lms_with_login: RunningServer, make_pool: MakePool
) -> None:
    pool = make_pool(
        settings_for(lms_with_login.port, login_user="door", login_password="wrong"), ready=False
    )
    assert not pool.wait_ready(0.5)
    with pytest.raises(LmsUnavailable) as failure:
        pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD)
    assert failure.value.reason == REASON_NOT_CONNECTED and "SIP2 user and password" in failure.value.detail


def _fails(pool: Sip2Pool, timeout: float = HANG_GUARD) -> LmsUnavailable:
    with pytest.raises(LmsUnavailable) as failure:
        pool.check_patron(VALID, PINS[VALID], timeout=timeout)
    return failure.value


def _recovers(pool: Sip2Pool, proxy: FaultProxy) -> None:
    """After a failure the fault goes away and the pool serves checks again."""
    proxy.set_fault(faults.PASS)
    assert pool.wait_ready(HANG_GUARD, connections=pool.size)
    assert credentials_accepted(pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD))


def test_a_damaged_reply_is_resent_once_and_the_check_succeeds(
    proxy: FaultProxy, make_pool: MakePool
) -> None:
    pool = make_pool(settings_for(proxy.port), size=1)
    proxy.set_fault(faults.BAD_CHECKSUM_ONCE)
    assert credentials_accepted(pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD))
    assert proxy.requests_starting(b"97") == 1


def test_a_bad_checksum_after_the_resend_is_unavailable(proxy: FaultProxy, make_pool: MakePool) -> None:
    pool = make_pool(settings_for(proxy.port), size=1)
    proxy.set_fault(faults.BAD_CHECKSUM_ALWAYS)
    assert _fails(pool).reason == REASON_CHECKSUM
    assert proxy.requests_starting(b"97") == 1
    _recovers(pool, proxy)


def test_silence_ends_at_the_timeout(proxy: FaultProxy, make_pool: MakePool) -> None:
    pool = make_pool(settings_for(proxy.port, reply_timeout=1.0), size=1)
    proxy.set_fault(faults.SILENCE)
    started = time.monotonic()
    failure = _fails(pool, timeout=0.3)
    elapsed = time.monotonic() - started
    assert failure.reason == REASON_TIMEOUT
    assert 0.3 <= elapsed < 0.3 + HANG_GUARD  # the upper bound is a hang guard; bench/sip2.py times it
    _recovers(pool, proxy)


def test_the_connection_closed_mid_reply(proxy: FaultProxy, make_pool: MakePool) -> None:
    pool = make_pool(settings_for(proxy.port), size=1)
    proxy.set_fault(faults.CLOSE_MID_REPLY)
    failure = _fails(pool)
    assert failure.reason == REASON_CLOSED and "mid-reply" in failure.detail
    _recovers(pool, proxy)


@pytest.mark.parametrize(
    ("fault", "reason"), [(faults.GARBAGE, REASON_GARBLED), (faults.GARBLED_FRAME, REASON_GARBLED)]
)
def test_a_garbled_reply(proxy: FaultProxy, make_pool: MakePool, fault: str, reason: str) -> None:
    pool = make_pool(settings_for(proxy.port), size=1)
    proxy.set_fault(fault)
    assert _fails(pool).reason == reason
    _recovers(pool, proxy)


def test_a_server_restart_between_two_checks(lms: RunningServer, make_pool: MakePool) -> None:
    pool = make_pool(settings_for(lms.port), size=2)
    assert credentials_accepted(pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD))
    lms.restart()
    assert credentials_accepted(pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD))
    assert pool.wait_ready(HANG_GUARD, connections=2)


def test_while_the_server_is_down_checks_fail_at_once_and_the_pool_comes_back(
    lms: RunningServer, make_pool: MakePool
) -> None:
    pool = make_pool(settings_for(lms.port), size=1, max_retry_delay=0.5)
    lms.stop()
    failure = _fails(pool)
    assert failure.reason in (REASON_CLOSED, REASON_NOT_CONNECTED)
    assert not pool.wait_ready(0.2)  # the reconnect fails while nothing listens
    assert _fails(pool).reason == REASON_NOT_CONNECTED  # no connection, no wait for the timeout
    lms.start()
    assert pool.wait_ready(HANG_GUARD)
    assert credentials_accepted(pool.check_patron(VALID, PINS[VALID], timeout=HANG_GUARD))


def test_heartbeats_are_sc_status_on_idle_connections(lms: RunningServer, make_pool: MakePool) -> None:
    make_pool(settings_for(lms.port), size=2, heartbeat_interval=0.05)
    assert lms.seen.count("99") >= 2  # one each at connect
    beat = threading.Event()
    guard = time.monotonic() + HANG_GUARD
    while lms.seen.count("99") < 6 and time.monotonic() < guard:
        beat.wait(0.01)
    assert lms.seen.count("99") >= 6


def test_many_threads_share_a_small_pool(lms: RunningServer, make_pool: MakePool) -> None:
    pool = make_pool(settings_for(lms.port), size=2)
    results: list[bool] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(20):
            card, pin = (VALID, PINS[VALID]) if (n + i) % 2 else (LOST, "0000")
            reply = pool.check_patron(card, pin, timeout=HANG_GUARD)
            with lock:
                results.append(credentials_accepted(reply) == (card == VALID))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_GUARD)
    assert len(results) == 120 and all(results)
    assert pool.connected == 2


def test_a_closed_pool_refuses_checks(lms: RunningServer, make_pool: MakePool) -> None:
    pool = make_pool(settings_for(lms.port))
    pool.close()
    assert _fails(pool).reason == REASON_POOL_CLOSED and pool.connected == 0
