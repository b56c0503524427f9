"""The door never waits on the database or an observer: faults injected into a running service,
checked on the relay pin (gpiozero mock pins) and in the event log afterwards."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing, contextmanager

import pytest

from controller.domain.events import EventType
from controller.door.ports import DoorContactChanged
from tests.conftest import DEMO_CARD, SECOND_CARD

WAIT = 5.0

# How long another writer holds the database's write lock. The quick run holds it until the
# event writer has met it twice; the slow one holds it for 12 s, past SQLite's busy timeout of
# the old design (10 s), as the fault (a big member import) does. The lock is real
# time by nature (SQLite's busy handler), so the slow run waits for it; the door's own pulse
# runs on the injected clock either way.
LOCK_HOLDS = [
    pytest.param(0.0, id="lock-briefly"),
    pytest.param(12.0, id="lock-12s", marks=pytest.mark.slow),
]


def until(predicate, timeout: float = WAIT) -> bool:
    """Look every 10 ms, at most `timeout` s (a bounded wait for another thread)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        pause.wait(0.01)
    return predicate()


def settle(service) -> None:
    """Let the door loop take a turn on the injected clock (a no-op input it must handle)."""
    service.loop.submit(DoorContactChanged(service.snapshot().door_open))
    assert service.loop.wait_idle(WAIT)


def relay_history(sim) -> list[int]:
    states = [int(s.state) for s in sim.factory.pin(sim.settings.hardware.lock.pin).states]
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]


@contextmanager
def database_locked(service, hold_seconds: float = 0.0):
    """Another writer holds the database's write lock (as a big member import does), for at
    least `hold_seconds` of real time from taking it."""
    conn = sqlite3.connect(service.runtime.db.path, isolation_level=None, timeout=WAIT)
    with closing(conn):
        conn.execute("BEGIN IMMEDIATE")
        taken = time.monotonic()
        conn.execute("INSERT INTO events (ts_ms, type, door) VALUES (0, 'service', 'lock-holder')")
        try:
            yield
            threading.Event().wait(max(0.0, hold_seconds - (time.monotonic() - taken)))
            assert time.monotonic() - taken >= hold_seconds
        finally:
            conn.execute("ROLLBACK")


def stored_types(service) -> list[EventType]:
    with closing(service.runtime.connection()) as conn:
        return [e.type for e in reversed(service.runtime.events(conn).query(limit=100))]


def pulse_full_length(sim, service, clock) -> None:
    relay = sim.settings.hardware.lock.pin
    assert until(lambda: sim.factory.pin(relay).state == 1), "the relay never opened"
    clock.advance(seconds=4.9)
    settle(service)
    assert sim.factory.pin(relay).state == 1, "the pulse ended early"
    clock.advance(seconds=0.1)
    settle(service)
    assert sim.factory.pin(relay).state == 0, "the pulse did not end"


@pytest.mark.parametrize("hold_seconds", LOCK_HOLDS)
def test_exit_button_pulses_in_full_while_the_database_is_locked(live_branch, clock, hold_seconds):
    sim, service = live_branch
    assert service.writer.flush(WAIT)
    with database_locked(service, hold_seconds):
        sim.press_rex()
        pulse_full_length(sim, service, clock)
        assert until(lambda: service.writer.retries >= 2), "the writer never met the lock"
        assert EventType.EXIT_REQUEST not in stored_types(service)  # still waiting, not lost
    assert service.writer.flush(WAIT)
    assert EventType.EXIT_REQUEST in stored_types(service)
    assert relay_history(sim)[-3:] == [0, 1, 0]


@pytest.mark.parametrize("hold_seconds", LOCK_HOLDS)
def test_a_grant_pulses_in_full_while_the_database_is_locked(live_branch, clock, hold_seconds):
    sim, service = live_branch
    with database_locked(service, hold_seconds):
        sim.present_card(DEMO_CARD)
        assert until(lambda: service.snapshot().phase.value == "awaiting_pin")
        sim.press_keys("1234#")
        pulse_full_length(sim, service, clock)
        sim.present_card(SECOND_CARD)  # a wrong PIN is counted in memory, not waited for
        assert until(lambda: service.snapshot().phase.value == "awaiting_pin")
        sim.press_keys("9999#")
        assert until(lambda: service.snapshot().message.en.lower().startswith("wrong"))
        assert until(lambda: service.writer.retries >= 2)
    assert service.writer.flush(WAIT)
    types = stored_types(service)
    assert EventType.ACCESS_GRANTED in types and EventType.ACCESS_REFUSED in types
    with closing(service.runtime.connection()) as conn:
        assert [tuple(r) for r in conn.execute("SELECT failures FROM pin_failures")] == [(1,)]


def test_a_failing_state_file_never_keeps_the_door_shut(live_branch, clock, monkeypatch):
    sim, service = live_branch

    def disk_full(snapshot):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.state_file, "write", disk_full)
    sim.present_card(DEMO_CARD)
    assert until(lambda: service.snapshot().phase.value == "awaiting_pin")
    sim.press_keys("1234#")
    pulse_full_length(sim, service, clock)
    assert until(lambda: service.observers.failed >= 1)
    assert service.writer.flush(WAIT)
    types = stored_types(service)
    assert EventType.ACCESS_GRANTED in types


def test_a_listener_that_hangs_never_delays_the_door(live_branch, clock):
    sim, service = live_branch
    release = threading.Event()
    service.listeners.append(lambda snapshot: release.wait(WAIT))
    try:
        sim.press_rex()
        pulse_full_length(sim, service, clock)
    finally:
        release.set()


def test_the_closing_announcement_is_played(tmp_path, clock):
    from gpiozero.pins.mock import MockFactory

    from controller.config.settings import parse_settings
    from controller.domain.schedule import Schedule
    from controller.door.branch import BranchService
    from controller.door.ports import ClosingWarning
    from controller.sim.hardware import SimulatedHardware

    marker = tmp_path / "announced"
    settings = parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "door": {"closing_announcement_command": f"touch {marker}-{{minutes}}"},
        },
        "test",
    )
    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(
        sim.settings, Schedule(), pin_factory=sim.factory, clock=clock, monotonic=clock.monotonic
    )
    try:
        service.start()
        service.loop.submit(ClosingWarning(15))
        assert service.loop.wait_idle(WAIT)
        assert until(lambda: (tmp_path / "announced-15").exists())
    finally:
        service.stop()
        sim.close()


def test_between_members_is_false_while_a_member_is_in_hand_and_true_again_after(live_branch, clock):
    """The door link reloads a saved schedule between members (door/link_server.py): the
    door thread marks each snapshot, from the card through the PIN to the pulse's end."""
    sim, service = live_branch
    assert service.between_members(0)
    sim.present_card(DEMO_CARD)
    assert until(lambda: service.snapshot().phase.value == "awaiting_pin")
    assert not service.between_members(0)
    sim.press_keys("1234#")
    assert until(lambda: sim.factory.pin(sim.settings.hardware.lock.pin).state == 1)
    assert not service.between_members(0)  # the pulse: the member is still at the door
    clock.advance(seconds=5)
    settle(service)
    assert service.between_members(WAIT)
