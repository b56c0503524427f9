"""systemd's notify protocol against a real datagram socket, and the watchdog fed by the real
door loop: pings while it turns, none while it is stuck."""

from __future__ import annotations

import os
import socket
import tempfile
import threading

import pytest

from controller.system.sd_notify import Notifier, WatchdogFeeder, watchdog_seconds
from tests.door_process.conftest import WAIT


def test_ready_stopping_and_status_reach_an_abstract_socket(notify_socket):
    notifier = Notifier(notify_socket.address)
    assert notifier.enabled
    assert notifier.ready("door up")
    assert notify_socket.receive(WAIT) == "READY=1\nSTATUS=door up"
    assert notifier.stopping()
    assert notify_socket.receive(WAIT) == "STOPPING=1"
    notifier.close()


def test_a_path_socket_works_too():
    # A short folder of our own: pytest's tmp_path can be too long for a socket address.
    with tempfile.TemporaryDirectory(prefix="opd-") as folder:
        path = os.path.join(folder, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
            listener.bind(path)
            listener.settimeout(WAIT)
            assert Notifier.from_environment({"NOTIFY_SOCKET": path}).watchdog()
            assert listener.recv(100) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent_and_nothing_fails():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled and not notifier.ready()
    assert WatchdogFeeder.from_environment(notifier, {"WATCHDOG_USEC": "10000000"}) is None


def test_a_socket_that_is_gone_is_not_an_error(notify_socket):
    notifier = Notifier(notify_socket.address)
    notify_socket.close()
    assert notifier.watchdog() is False  # said once in the log, never raised


def test_watchdog_interval_from_the_environment():
    assert watchdog_seconds({"WATCHDOG_USEC": "10000000"}) == 10.0
    assert watchdog_seconds({}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "nonsense"}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "0"}) is None
    # WATCHDOG_PID: meant for another process (a child that inherited the environment)
    assert watchdog_seconds({"WATCHDOG_USEC": "6000000", "WATCHDOG_PID": "1"}, pid=42) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "6000000", "WATCHDOG_PID": "42"}, pid=42) == 6.0


def test_the_feeder_pings_at_most_every_third_of_the_watchdog_period(notify_socket):
    now = [100.0]
    feeder = WatchdogFeeder.from_environment(
        Notifier(notify_socket.address), {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "9000000"}
    )
    assert feeder is not None and feeder.period == 3.0
    feeder._clock = lambda: now[0]
    for step in (0.0, 0.5, 1.0, 2.9, 3.0, 3.1, 5.9, 6.0):  # turns, with the time of each
        now[0] = 100.0 + step
        feeder()
    assert feeder.sent == 3  # at 0, 3.0 and 6.0
    assert [notify_socket.receive(WAIT) for _ in range(3)] == ["WATCHDOG=1"] * 3
    assert notify_socket.drain() == []


@pytest.mark.slow  # listens to 2 s of silence from the stuck loop
def test_the_door_loop_feeds_the_watchdog_while_it_turns_and_not_while_stuck(notify_socket, make_local_door):
    feeder = WatchdogFeeder(Notifier(notify_socket.address), period=0.0)  # every turn
    door = make_local_door(on_turn=feeder)
    notify_socket.wait_for("WATCHDOG=1")
    notify_socket.wait_for("WATCHDOG=1")  # it keeps turning (at least every 0.5 s) when idle

    # The loop gets stuck in a call (as in a hung driver): the next quiet turn never ends.
    stuck, release = threading.Event(), threading.Event()
    tick = door.service.door.tick

    def hang() -> None:
        stuck.set()
        release.wait(30)
        tick()

    door.service.door.tick = hang
    try:
        assert stuck.wait(WAIT)
        notify_socket.drain()  # pings from turns before it got stuck
        # A turning loop pings at least every 0.5 s: four periods of silence are telling.
        assert notify_socket.receive(2.0) is None
        assert door.service.loop.turn_age() >= 2.0
    finally:
        door.service.door.tick = tick
        release.set()
    notify_socket.wait_for("WATCHDOG=1")  # turning again, feeding again
    door.sim.present_card("29990000000001")
    assert door.wait_for(lambda s: s.phase.value == "awaiting_pin")
    door.sim.press_keys("1234#")
    assert door.wait_for(lambda s: s.relay_unlocked)
