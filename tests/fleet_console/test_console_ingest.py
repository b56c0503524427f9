"""The console's ingest against a real Mosquitto: the branches' state, heartbeat and events (in
the publisher's own shapes, controller/services/fleet/messages.py) arrive and are stored; a
resent event is stored once; malformed messages are counted and never stop the ingest."""

from __future__ import annotations

import json
import logging
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from controller.domain.events import EventType
from controller.services.fleet.messages import (
    event_message,
    heartbeat_message,
    offline_message,
    state_message,
)
from controller.store.fleet_outbox import SourceEvent
from fleet_console.service.incoming import MAX_MESSAGE_BYTES
from fleet_console.service.ingest import LOG_EVERY, LOGGED_IN_FULL, Ingest, purge_old_events
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.store.branches import BranchStore
from fleet_console.store.fleet_events import FleetEventStore, IngestCounts
from tests.conftest import FakeClock
from tests.fleet_console.conftest import NOW, PREFIX, BranchClient, eventually, open_console

KEY = b"k" * 32


def event(branch: str, event_id: int, type_: EventType = EventType.ACCESS_GRANTED, **fields: object) -> dict:
    source = SourceEvent(
        id=event_id,
        at=NOW - timedelta(minutes=event_id),
        type=type_.value,
        door="front",
        reason=str(fields.get("reason", "member")),
        member_ref="P00042",
        card_hint="…1234",
        detail=None,
    )
    return event_message(branch, source, KEY)


def snapshot(**fields: object) -> SimpleNamespace:
    values = {"mode": "openplus", "door_open": False, "relay_unlocked": False, "alarm": None, "occupancy": 3}
    return SimpleNamespace(**{**values, **fields})


def counts(console: ConsoleRuntime) -> dict[str, int]:
    with closing(console.connection()) as conn:
        return IngestCounts(conn).all()


def test_state_heartbeat_and_events_arrive_and_a_resent_event_is_stored_once(
    console: ConsoleRuntime, branch_client: BranchClient
) -> None:
    branch_client.publish(
        f"{PREFIX}/assen/state", state_message("assen", snapshot(), "1.2.3", NOW), retain=True
    )
    branch_client.publish(f"{PREFIX}/emmen/state", offline_message("emmen"), retain=True)
    branch_client.publish(f"{PREFIX}/assen/heartbeat", heartbeat_message("assen", NOW, 4))
    for n in (1, 2, 3):
        branch_client.publish(f"{PREFIX}/assen/events", event("assen", n))
    branch_client.publish(f"{PREFIX}/assen/events", event("assen", 2))  # a resend: same id
    branch_client.publish(f"{PREFIX}/emmen/events", event("emmen", 1, EventType.DOOR_FORCED))

    eventually(lambda: counts(console).get("received", 0) + counts(console).get("duplicate", 0) == 8, "8 in")
    with closing(console.connection()) as conn:
        branches = {row.id: row for row in BranchStore(conn).all()}
        events = FleetEventStore(conn)
        assert branches["assen"].state == "online"
        assert branches["assen"].detail["mode"] == "openplus"
        assert branches["assen"].detail["occupancy"] == 3
        assert branches["assen"].heartbeat_at == NOW and branches["assen"].outbox == 4
        assert branches["emmen"].state == "offline"
        assert events.count() == 4
        assert counts(console)["duplicate"] == 1
        assert events.entries_since(NOW - timedelta(hours=1)) == {"assen": 3}
        assert events.open_alert_counts() == {"emmen": 1}
        assert [e.msg_id for e in events.log(["assen"], 10)] == ["assen/1", "assen/2", "assen/3"]
        assert all(e.member and e.member != "P00042" for e in events.log([], 10))  # pseudonyms only


def test_malformed_messages_are_counted_and_the_ingest_goes_on(
    console: ConsoleRuntime, branch_client: BranchClient
) -> None:
    bad = [
        (f"{PREFIX}/assen/events", b"\xff not json"),
        (f"{PREFIX}/assen/events", b"[1, 2]"),
        (f"{PREFIX}/assen/events", b"[" * 60_000),  # nesting too deep to parse
        (f"{PREFIX}/assen/events", b"x" * (MAX_MESSAGE_BYTES + 1)),
        (f"{PREFIX}/assen/events", '{"v": 2, "branch": "assen"}'),
        (f"{PREFIX}/assen/events", {**event("assen", 1), "at": "yesterday"}),
        (f"{PREFIX}/assen/events", {**event("assen", 1), "id": "emmen/1"}),
        (f"{PREFIX}/assen/state", state_message("emmen", None, "1", None)),  # another branch's name
        (f"{PREFIX}/assen/heartbeat", {"v": 1, "branch": "assen", "at": "2026-06-10T10:00:00", "outbox": 1}),
        (f"{PREFIX}/assen/acks", {"v": 1, "branch": "assen", "command": "c" * 201, "status": "applied"}),
    ]
    for topic, payload in bad:
        branch_client.publish(topic, payload)
    branch_client.publish(f"{PREFIX}/assen/events", event("assen", 7))
    eventually(lambda: counts(console).get("received") == 1, "the good event after the bad ones")
    found = counts(console)
    assert sum(n for name, n in found.items() if name.startswith("malformed:")) == 10
    assert found["malformed:not_json"] == 2 and found["malformed:too_big"] == 1
    assert found["malformed:wrong_branch"] == 1 and found["malformed:format"] == 1
    with closing(console.connection()) as conn:
        assert [e.msg_id for e in FleetEventStore(conn).log([], 10)] == ["assen/7"]


def test_a_message_on_an_unexpected_topic_is_malformed_not_stored(tmp_path: Path, clock: FakeClock) -> None:
    console = open_console(tmp_path, clock, None)
    with closing(console.connection()) as conn:
        ingest = Ingest(conn, PREFIX, clock)
        assert ingest.handle(f"{PREFIX}/assen/commands", b"{}") == "malformed:topic"
        assert ingest.handle("other/assen/events", b"{}") == "malformed:topic"
        assert ingest.handle(f"{PREFIX}/a b/events", b"{}") == "malformed:topic"
        assert FleetEventStore(conn).count() == 0 and BranchStore(conn).all() == []


def test_events_older_than_the_retention_go_but_open_alerts_stay(tmp_path: Path, clock: FakeClock) -> None:
    console = open_console(tmp_path, clock, None)
    with closing(console.connection()) as conn:
        ingest = Ingest(conn, PREFIX, clock)
        for message in (event("assen", 1), event("assen", 3), event("assen", 4, EventType.DOOR_FORCED)):
            assert ingest.handle(f"{PREFIX}/assen/events", json.dumps(message).encode()) == "received"
        clock.advance(days=90, minutes=-2)  # the cut-off falls between events 1 and 3
        assert purge_old_events(conn, clock, keep_days=90) == 1  # 3; the open alert 4 stays
        assert [e.msg_id for e in FleetEventStore(conn).log([], 10)] == ["assen/1", "assen/4"]
        FleetEventStore(conn).close_alert("assen/4", "sam", clock())
        assert purge_old_events(conn, clock, keep_days=90) == 1
        assert [e.msg_id for e in FleetEventStore(conn).log([], 10)] == ["assen/1"]


def test_a_flood_of_malformed_messages_is_counted_in_full_but_logged_sparingly(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    console = open_console(tmp_path, clock, None)
    with closing(console.connection()) as conn:
        ingest = Ingest(conn, PREFIX, clock)
        with caplog.at_level(logging.WARNING, logger="fleet_console.service.ingest"):
            for _ in range(LOG_EVERY):
                ingest.handle(f"{PREFIX}/assen/events", b"nope")
        assert IngestCounts(conn).all() == {"malformed:not_json": LOG_EVERY}
    assert len(caplog.records) == LOGGED_IN_FULL + 1
