"""Fleet commands applied through the branch's use cases (apply.py, apply_handler.py), without a
broker: each kind's effect, the blocks list replacing only its own blocks, atomic refusals,
the audit line naming the console user, the ack in the outbox, the alert for a refusal."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.config.alerts import AlertKind
from controller.domain.eligibility import EligibilityRules
from controller.domain.schedule import Schedule
from controller.services.alerts.rules import kind_of
from controller.services.fleet.apply import DoorHooks
from controller.services.fleet.apply_handler import CommandHandler
from controller.services.fleet.commands import encode, new_envelope, sign
from controller.services.fleet.messages import Topics
from controller.services.runtime import Runtime
from controller.services.use_cases import member_admin
from controller.store.alerts import EventRow
from controller.store.codec import from_ms
from controller.store.fleet_commands import FleetApplied
from controller.store.schedule import ScheduleStore
from tests.conftest import FakeClock
from tests.helpers import add_member

KEY = Ed25519PrivateKey.generate()
BRANCH = "assen"
SCHEDULE = {"weekly": {"monday": [{"start": "08:00", "end": "22:00", "kind": "openplus"}]}}


class Door:
    """What the running door was told."""

    def __init__(self) -> None:
        self.schedules: list[Schedule] = []
        self.unlocks: list[str] = []
        self.rules: list[EligibilityRules] = []

    def hooks(self) -> DoorHooks:
        return DoorHooks(self.schedules.append, self.unlocks.append, self.rules.append)


@pytest.fixture
def door() -> Door:
    return Door()


@pytest.fixture
def conn(runtime: Runtime) -> Iterator[sqlite3.Connection]:
    with closing(runtime.connection()) as connection:
        yield connection


def handler(runtime: Runtime, door: Door, clock: FakeClock) -> CommandHandler:
    return CommandHandler(runtime, Topics("openplus", BRANCH), KEY.public_key(), door.hooks(), clock)


def command(kind: str, body: dict[str, Any], version: int, clock: FakeClock, **fields: Any) -> bytes:
    return encode(sign({**new_envelope(kind, BRANCH, version, "anna", body, clock()), **fields}, KEY))


def audit(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT reason, actor, detail FROM events WHERE type = 'admin_change' ORDER BY id"
        )
    ]


def acks(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT topic, payload FROM fleet_outbox ORDER BY id").fetchall()
    assert all(topic == f"openplus/{BRANCH}/acks" for topic, _ in rows)
    return [json.loads(payload) for _, payload in rows]


def test_a_schedule_is_stored_audited_acked_and_handed_to_the_door(runtime, door, clock, conn) -> None:
    outcome = handler(runtime, door, clock).handle(conn, command("schedule", SCHEDULE, 7, clock))
    assert outcome.applied
    stored = ScheduleStore(conn).load()
    assert stored.schedule.weekly.monday[0].start == "08:00" and stored.updated_by == "fleet:anna"
    assert door.schedules == [stored.schedule]
    assert [(reason, actor) for reason, actor, _ in audit(conn)] == [
        ("schedule replaced", "fleet:anna"),
        ("fleet_command_applied", "fleet:anna"),
    ]
    [ack] = acks(conn)
    assert (
        ack["status"] == "applied"
        and ack["kind"] == "schedule"
        and ack["version"] == 7
        and ack["reason"] is None
    )


def test_a_bad_schedule_changes_nothing_and_is_refused_naming_the_problem(runtime, door, clock, conn) -> None:
    bad = {"weekly": {"monday": [{"start": "22:00", "end": "08:00", "kind": "openplus"}]}}
    outcome = handler(runtime, door, clock).handle(conn, command("schedule", bad, 7, clock))
    assert not outcome.applied and "schedule body" in (outcome.reason or "")
    assert ScheduleStore(conn).load().is_default and door.schedules == []
    assert [reason for reason, _, _ in audit(conn)] == ["fleet_command_refused"]
    # Refused, not applied: the same version may come again, corrected.
    assert handler(runtime, door, clock).handle(conn, command("schedule", SCHEDULE, 7, clock)).applied


def test_the_blocks_list_replaces_only_the_blocks_it_set(runtime, door, clock, conn) -> None:
    for number in (1, 2, 3, 4):
        add_member(runtime, number)
    runtime.members(conn).set_blocked("P00003", True, None, clock(), "local reason")
    handle = handler(runtime, door, clock).handle
    first = {
        "blocks": [
            {"patron": "P00001", "reason": "damage", "until": "2027-01-01"},
            {"patron": "P00002", "reason": "", "until": None},
            {"patron": "P00003", "reason": "shared", "until": None},  # blocked locally: stays so
            {"patron": "X-elsewhere", "reason": "other branch", "until": None},  # not a member here
        ]
    }
    assert handle(conn, command("blocks", first, 1, clock)).applied
    members = runtime.members(conn)
    p1, p3 = members.get("P00001"), members.get("P00003")
    assert p1 is not None and p1.entry_blocked and p1.block_note == "damage"
    assert p3 is not None and p3.block_note == "local reason"
    assert handle(
        conn, command("blocks", {"blocks": [{"patron": "P00002", "until": None}]}, 2, clock)
    ).applied
    blocked = {
        pid: m.entry_blocked for pid in ("P00001", "P00002", "P00003", "P00004") if (m := members.get(pid))
    }
    assert blocked == {"P00001": False, "P00002": True, "P00003": True, "P00004": False}


def test_members_are_upserted_and_removed_atomically_keeping_pins(runtime, door, clock, conn) -> None:
    add_member(runtime, 1)
    add_member(runtime, 2)
    body = {
        "upsert": [
            {
                "patron_id": "P00001",
                "cards": "29990000000011",
                "name": "New Name",
                "valid_until": "2031-01-01",
                "adult": "yes",
            },
            {
                "patron_id": "P00009",
                "cards": ["29990000000009"],
                "name": "Nine",
                "valid_until": "2031-01-01",
                "adult": True,
            },
        ],
        "remove": ["P00002", "P-not-here"],
    }
    assert handler(runtime, door, clock).handle(conn, command("members", body, 3, clock)).applied
    members = runtime.members(conn)
    p1 = members.get("P00001")
    assert p1 is not None and p1.display_name == "New Name" and p1.cards == ("29990000000011",)
    assert p1.has_pin  # set at the branch; the fleet's row carries none
    assert members.get("P00009") is not None and members.get("P00002") is None

    bad = {
        "upsert": [
            {"patron_id": "P00003", "cards": "1", "name": "X", "valid_until": "2031-01-01", "adult": "yes"}
        ],
        "remove": ["P00001"],
    }
    outcome = handler(runtime, door, clock).handle(conn, command("members", bad, 4, clock))
    assert not outcome.applied and "line 2" in (outcome.reason or "")
    assert members.get("P00001") is not None  # the remove in the refused command did not happen


def test_a_members_update_keeps_what_its_rows_do_not_say(runtime, door, clock, conn) -> None:
    """An update without the block and flag columns leaves a manager's block, its note and the
    flags as stored (as the member import does), and a block from the fleet's list stays the
    list's: the update is no way to lift either."""
    add_member(runtime, 1)
    add_member(runtime, 2)
    admin = member_admin(runtime, conn)
    admin.block("P00001", "web:manny", date(2031, 1, 1), "lent card")
    admin.set_flags("P00001", "web:manny", guardian_consent=True, more_time=True)
    blocks = {"blocks": [{"patron": "P00002", "reason": "theft", "until": None}]}
    assert handler(runtime, door, clock).handle(conn, command("blocks", blocks, 3, clock)).applied
    row = {"cards": "29990000000011", "name": "New", "valid_until": "2031-01-01", "adult": "yes"}
    body = {
        "upsert": [{"patron_id": "P00001", **row}, {"patron_id": "P00002", **row, "cards": "29990000000012"}]
    }
    assert handler(runtime, door, clock).handle(conn, command("members", body, 4, clock)).applied
    members = runtime.members(conn)
    p1, p2 = members.get("P00001"), members.get("P00002")
    assert p1 is not None and p2 is not None and p1.display_name == "New"
    assert (p1.entry_blocked, p1.blocked_until, p1.block_note) == (True, date(2031, 1, 1), "lent card")
    assert (p1.guardian_consent, p1.more_time) == (True, True)
    assert p2.entry_blocked and FleetApplied(conn).fleet_blocked() == {"P00002"}
    with_column = {"upsert": [{"patron_id": "P00001", **row, "blocked": "no"}]}
    assert handler(runtime, door, clock).handle(conn, command("members", with_column, 5, clock)).applied
    assert not members.get("P00001").entry_blocked  # the row's own column says it


def test_rules_reach_the_door_and_come_back_at_start(runtime, door, clock, conn) -> None:
    body = {"min_age": 16, "minors_need_consent": False}
    assert handler(runtime, door, clock).handle(conn, command("rules", body, 5, clock)).applied
    assert door.rules[-1].min_age == 16 and not door.rules[-1].minors_need_consent
    restarted = Door()
    handler(runtime, restarted, clock).restore(conn)
    assert restarted.rules[-1].min_age == 16
    outcome = handler(runtime, door, clock).handle(conn, command("rules", {"min_age": 99}, 6, clock))
    assert not outcome.applied and "min_age" in (outcome.reason or "")


def test_rules_are_refused_where_no_library_system_reads_them(runtime, clock, conn) -> None:
    """Without [lms] the rules judge nothing: an "applied" ack would tell the console a lie."""
    door = Door()
    hooks = DoorHooks(door.schedules.append, door.unlocks.append, None)
    handle = CommandHandler(runtime, Topics("openplus", BRANCH), KEY.public_key(), hooks, clock).handle
    outcome = handle(conn, command("rules", {"min_age": 16}, 5, clock))
    assert not outcome.applied and "[lms] disabled" in (outcome.reason or "")
    assert "rules" not in FleetApplied(conn).last_versions()


def test_an_unlock_in_time_unlocks_and_a_late_one_does_not(runtime, door, clock, conn) -> None:
    handle = handler(runtime, door, clock).handle
    assert handle(conn, command("unlock", {}, 8, clock)).applied
    assert door.unlocks == ["fleet:anna"]
    late = command("unlock", {}, 9, clock)
    clock.advance(minutes=2, seconds=1)
    outcome = handle(conn, late)
    assert not outcome.applied and "expired" in (outcome.reason or "") and door.unlocks == ["fleet:anna"]


def test_tampered_and_replayed_commands_are_refused_audited_and_alerted(runtime, door, clock, conn) -> None:
    handle = handler(runtime, door, clock).handle
    payload = command("unlock", {}, 8, clock)
    assert handle(conn, payload).applied
    replay = handle(conn, payload)
    tampered = json.loads(command("unlock", {}, 9, clock))
    tampered["by"] = "console:mallory"
    forged = handle(conn, json.dumps(tampered).encode())
    assert "stale or replayed" in (replay.reason or "") and "bad signature" in (forged.reason or "")
    assert door.unlocks == ["fleet:anna"]
    refused = conn.execute(
        "SELECT id, ts_ms, type, door, reason, detail FROM events WHERE reason = 'fleet_command_refused'"
    ).fetchall()
    assert len(refused) == 2
    for row in refused:
        event = EventRow(row[0], from_ms(row[1]), row[2], row[3], row[4], row[5])
        assert kind_of(event, lambda: None) is AlertKind.FLEET_COMMAND_REFUSED
    assert [ack["status"] for ack in acks(conn)] == ["applied", "refused", "refused"]
    actors = [actor for reason, actor, _ in audit(conn) if reason == "fleet_command_refused"]
    assert actors == ["fleet:anna", "fleet:unverified"]  # a forged envelope's "by" is no name
    assert acks(conn)[1]["command"] == json.loads(payload)["id"]


def test_versions_are_per_kind_and_kept_in_the_database(runtime, door, clock, conn) -> None:
    assert handler(runtime, door, clock).handle(conn, command("schedule", SCHEDULE, 10, clock)).applied
    assert handler(runtime, door, clock).handle(conn, command("unlock", {}, 4, clock)).applied
    clock.advance(seconds=1)
    later = handler(runtime, Door(), clock)  # a restarted door process
    old = later.handle(conn, command("schedule", SCHEDULE, 9, clock))
    assert not old.applied and "already applied version 10" in (old.reason or "")
