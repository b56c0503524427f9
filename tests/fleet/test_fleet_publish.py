"""Each controller publishes to a real Mosquitto (issue 17): events with their ids, pseudonymised;
the retained state and the last will; a heartbeat on the injected clock; the broker stopped
mid-burst and a day offline: no event lost, none duplicated once the ids are compared."""

from __future__ import annotations

import json
import logging
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta

import pytest

from controller.domain.events import DoorAlarm
from controller.domain.modes import DoorMode
from controller.services.fleet.publisher import WINDOW
from controller.store.db import Database
from controller.store.fleet_outbox import FleetOutbox
from tests.conftest import FakeClock
from tests.fleet.conftest import BRANCH, event_ids, publisher, retained_state, write_events
from tests.mqtt_support import HANG_GUARD, Broker

STATE = f"openplus/{BRANCH}/state"


@dataclass
class Snapshot:
    """The fields of the door's snapshot the state message reads."""

    mode: DoorMode = DoorMode.OPENPLUS
    door_open: bool = False
    relay_unlocked: bool = False
    alarm: DoorAlarm | None = None
    occupancy: int | None = None


def waiting(db: Database) -> int:
    with closing(db.connect()) as conn:
        return FleetOutbox(conn).waiting()


def test_events_arrive_with_their_ids_and_no_patron_id(
    db: Database, fleet_broker: Broker, clock: FakeClock
) -> None:
    fleet = publisher(db, fleet_broker, clock)
    fleet.start()
    try:
        assert fleet.connected.wait(HANG_GUARD)
        ids = write_events(db, clock, 5)
        fleet.wake()
        got = fleet_broker.messages.wait_until(lambda items: len(event_ids(items)) >= 5)
    finally:
        fleet.stop(HANG_GUARD)
    events = [p for t, p in got if t == f"openplus/{BRANCH}/events"]
    assert [e["id"] for e in events] == [f"{BRANCH}/{i}" for i in ids]
    assert all(e["member"].startswith("pseudo:") and e["card_hint"] == "…1234" for e in events)
    assert len({e["member"] for e in events}) == 5  # one pseudonym per member
    assert "P0000" not in json.dumps(events)  # the patron id never leaves
    assert waiting(db) == 0  # marked sent: the broker acknowledged each


def test_events_written_before_the_first_start_are_not_sent_and_a_restart_sends_each_once(
    db: Database, fleet_broker: Broker, clock: FakeClock
) -> None:
    write_events(db, clock, 3)  # the past before the fleet was enabled
    fleet = publisher(db, fleet_broker, clock)
    fleet.start()
    first = write_events(db, clock, 2)
    fleet.wake()
    fleet_broker.messages.wait_until(lambda items: len(event_ids(items)) >= 2)
    fleet.stop(HANG_GUARD)
    second = write_events(db, clock, 2)  # while stopped
    again = publisher(db, fleet_broker, clock)
    again.start()
    try:
        got = fleet_broker.messages.wait_until(lambda items: len(event_ids(items)) >= 4)
    finally:
        again.stop(HANG_GUARD)
    assert event_ids(got) == [f"{BRANCH}/{i}" for i in first + second]


def test_retained_state_follows_the_door_and_a_vanished_controller_is_offline(
    db: Database, fleet_broker: Broker, clock: FakeClock
) -> None:
    snapshot = Snapshot(occupancy=3)
    fleet = publisher(
        db, fleet_broker, clock, state=lambda: snapshot, lms_contact=lambda: clock() - timedelta(minutes=2)
    )
    fleet.start()
    try:
        fleet_broker.messages.wait_until(
            lambda items: any(t == STATE and p.get("occupancy") == 3 for t, p in items)
        )
        state = retained_state(fleet_broker, STATE)
        assert state == {
            "v": 1,
            "branch": BRANCH,
            "state": "online",
            "version": "9.9.9",
            "mode": "openplus",
            "door": "closed",
            "alarms": [],
            "occupancy": 3,
            "last_lms_contact": "2026-06-10T11:58:00Z",
        }
        snapshot = Snapshot(door_open=True, alarm=DoorAlarm.FORCED, occupancy=4)
        fleet_broker.messages.wait_until(
            lambda items: any(t == STATE and p.get("alarms") == ["forced"] for t, p in items)
        )
        assert retained_state(fleet_broker, STATE)["door"] == "open"
    finally:
        fleet.stop(HANG_GUARD, clean=False)  # a power cut: no DISCONNECT
    fleet_broker.messages.wait_until(
        lambda items: any(t == STATE and p["state"] == "offline" for t, p in items)
    )
    assert retained_state(fleet_broker, STATE) == {"v": 1, "branch": BRANCH, "state": "offline"}


def test_a_clean_stop_says_offline_itself(
    db: Database, fleet_broker: Broker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = publisher(db, fleet_broker, clock)
    fleet.start()
    assert fleet.connected.wait(HANG_GUARD)
    fleet_broker.messages.wait_until(lambda items: any(t == STATE for t, p in items))
    with caplog.at_level(logging.WARNING, logger="controller.services.fleet.publisher"):
        fleet.stop(HANG_GUARD)
    assert retained_state(fleet_broker, STATE)["state"] == "offline"
    assert "connection lost" not in caplog.text  # a goodbye is not logged as a lost connection


def test_heartbeat_on_the_injected_clock(db: Database, fleet_broker: Broker, clock: FakeClock) -> None:
    fleet = publisher(db, fleet_broker, clock)
    fleet.start()
    beats = f"openplus/{BRANCH}/heartbeat"
    try:
        first = fleet_broker.messages.wait_until(lambda items: any(t == beats for t, p in items))
        clock.advance(seconds=60)  # [fleet] heartbeat_seconds' default
        got = fleet_broker.messages.wait_until(lambda items: sum(t == beats for t, p in items) >= 2)
    finally:
        fleet.stop(HANG_GUARD)
    assert [p for t, p in first if t == beats][0]["at"] == "2026-06-10T12:00:00Z"
    assert [p for t, p in got if t == beats][1] == {
        "v": 1,
        "branch": BRANCH,
        "outbox": 0,
        "acked_seq": 0,  # no message from the outbox yet
        "at": "2026-06-10T12:01:00Z",
    }


def test_broker_stopped_mid_burst_loses_nothing_and_duplicates_nothing(
    db: Database, fleet_broker: Broker, clock: FakeClock
) -> None:
    fleet = publisher(db, fleet_broker, clock)
    fleet.start()
    try:
        assert fleet.connected.wait(HANG_GUARD)
        ids = write_events(db, clock, 600)
        fleet.wake()
        fleet_broker.messages.wait_until(lambda items: len(event_ids(items)) >= 50)
        fleet_broker.stop_process()  # mid-burst: most are still to go
        ids += write_events(db, clock, 200)
        fleet.wake()
        fleet_broker.start()
        fleet_broker.wait_resubscribed()
        expected = {f"{BRANCH}/{i}" for i in ids}
        got = fleet_broker.messages.wait_until(lambda items: set(event_ids(items)) >= expected)
    finally:
        fleet.stop(HANG_GUARD)
    received = event_ids(got)
    assert set(received) == expected  # nothing lost, nothing foreign
    # On the wire QoS 1 may repeat what was in flight when the broker went (its PUBACK lost):
    # at most one window, and every repeat is the same message under the same id.
    repeats = Counter(received) - Counter(set(received))
    assert sum(repeats.values()) <= WINDOW
    assert fleet.connected.is_set() is False and waiting(db) == 0


def test_a_day_offline_catches_up(db: Database, fleet_broker: Broker, clock: FakeClock) -> None:
    fleet_broker.stop_process()
    fleet = publisher(db, fleet_broker, clock)
    fleet.start()
    try:
        ids: list[int] = []
        for _ in range(24 * 4):  # an entry every quarter of an hour for a day
            clock.advance(minutes=15)
            ids += write_events(db, clock, 1)
        fleet.wake()
        with closing(db.connect()) as conn:  # the outbox holds them all meanwhile
            deadline_ok = _wait(lambda: FleetOutbox(conn).waiting() == len(ids))
        assert deadline_ok and not fleet.connected.is_set()
        fleet_broker.start()
        fleet_broker.wait_resubscribed()
        expected = [f"{BRANCH}/{i}" for i in ids]
        got = fleet_broker.messages.wait_until(lambda items: set(event_ids(items)) >= set(expected))
    finally:
        fleet.stop(HANG_GUARD)
    assert sorted(set(event_ids(got)), key=expected.index) == expected
    assert waiting(db) == 0


def _wait(check: object) -> bool:
    """Wait for a condition the publisher's thread brings about (the hang guard bounds it)."""
    import threading
    import time

    deadline = time.monotonic() + HANG_GUARD
    polled = threading.Event()
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        polled.wait(0.02)
    return False
