"""Sending from the console through a real Mosquitto: one command to three branches is signed
(checked with the branch's own verify and the public key), published once per branch on its
commands topic, and the branches' acks (published here as a branch would) fill the applied view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from controller.services.fleet.commands import CommandRefused, load_public_key, verify
from fleet_console.service.ingest import Ingest
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.service.send import MAX_TARGETS, SendRefused, send_command
from fleet_console.store.branches import BranchStore
from fleet_console.store.commands import CommandStore
from tests.conftest import FakeClock
from tests.fleet_console.conftest import PREFIX, BranchClient, eventually, open_console, started_console
from tests.mqtt_support import Broker

BLOCKS = {"blocks": [{"patron": "P1", "reason": "damage", "until": "2026-12-31"}]}
BRANCHES = ["assen", "emmen", "meppel"]


@pytest.fixture
def console_and_broker(tmp_path: Path, clock: FakeClock, broker: Broker) -> Iterator[ConsoleRuntime]:
    with started_console(tmp_path, clock, broker.port) as runtime:
        yield runtime


def send(console: ConsoleRuntime, targets: list[str], body: dict[str, Any] = BLOCKS) -> str:
    with closing(console.connection()) as conn:
        command_id = send_command(
            conn, console.clock, console.key, kind="blocks", body=body, targets=targets, by="mia"
        )
    console.wake_link()
    return command_id


def ack(branch: str, command_id: str, status: str, reason: str | None = None) -> dict[str, Any]:
    return {
        "v": 1,
        "branch": branch,
        "command": command_id,
        "kind": "blocks",
        "version": 1,
        "status": status,
        "reason": reason,
        "at": "2026-06-10T10:00:05Z",
    }


def statuses(console: ConsoleRuntime, command_id: str) -> dict[str, str]:
    with closing(console.connection()) as conn:
        return {t.branch: t.status for t in CommandStore(conn).targets(command_id)}


def test_a_command_to_three_branches_is_signed_published_per_branch_and_acks_show_who_applied(
    console_and_broker: ConsoleRuntime, broker: Broker, tmp_path: Path, clock: FakeClock
) -> None:
    console = console_and_broker
    command_id = send(console, BRANCHES)
    got = broker.messages.wait_until(lambda items: len([t for t, _ in items if t.endswith("/commands")]) == 3)
    commands = {topic: payload for topic, payload in got if topic.endswith("/commands")}
    assert sorted(commands) == [f"{PREFIX}/{b}/commands" for b in BRANCHES]
    public = load_public_key(tmp_path / "keys" / "fleet.pub")
    for branch in BRANCHES:
        envelope = commands[f"{PREFIX}/{branch}/commands"]
        assert envelope["id"] == command_id and envelope["version"] == 1 and envelope["by"] == "mia"
        payload = json.dumps(envelope).encode()
        command = verify(payload, public, branch, {}, clock())
        assert command.body == BLOCKS
        with pytest.raises(CommandRefused, match="addressed to branch"):
            verify(payload, public, "elsewhere", {}, clock())
    eventually(lambda: all(t.published_at for t in _targets(console, command_id)), "PUBACKs recorded")

    peer = BranchClient(broker.port)
    try:
        peer.publish(f"{PREFIX}/assen/acks", ack("assen", command_id, "applied"))
        peer.publish(f"{PREFIX}/emmen/acks", ack("emmen", command_id, "refused", "bad signature"))
        # A resent copy refused as replayed does not hide that assen applied it.
        peer.publish(f"{PREFIX}/assen/acks", ack("assen", command_id, "refused", "stale or replayed"))
        peer.publish(f"{PREFIX}/meppel/state", {"v": 1, "branch": "meppel", "state": "online"}, retain=True)
        eventually(lambda: _online(console, "meppel"), "meppel's state")
        eventually(
            lambda: (
                statuses(console, command_id) == {"assen": "applied", "emmen": "refused", "meppel": "pending"}
            ),
            "the acks",
        )
        with closing(console.connection()) as conn:
            row = CommandStore(conn).get(command_id)
            assert row is not None and (row.applied, row.refused, row.pending) == (1, 1, 1)
            assert [t.reason for t in CommandStore(conn).targets(command_id)][1] == "bad signature"
    finally:
        peer.close()


def _online(console: ConsoleRuntime, branch: str) -> bool:
    with closing(console.connection()) as conn:
        row = BranchStore(conn).get(branch)
        return row is not None and row.online


def _targets(console: ConsoleRuntime, command_id: str) -> list:
    with closing(console.connection()) as conn:
        return CommandStore(conn).targets(command_id)


def test_each_command_gets_the_next_version_of_the_console(tmp_path: Path, clock: FakeClock) -> None:
    console = open_console(tmp_path, clock, None)
    first, second = send(console, ["assen"]), send(console, ["assen", "emmen"])
    with closing(console.connection()) as conn:
        store = CommandStore(conn)
        assert [store.get(first).version, store.get(second).version] == [1, 2]  # type: ignore[union-attr]
        assert store.last_body("blocks") == BLOCKS


@pytest.mark.parametrize(
    ("targets", "body", "problem"),
    [
        ([], BLOCKS, "at least one branch"),
        (["a/b"], BLOCKS, "not a branch id"),
        (["#"], BLOCKS, "not a branch id"),
        ([f"b{n}" for n in range(MAX_TARGETS + 1)], BLOCKS, f"at most {MAX_TARGETS}"),
        (["assen"], {"blocks": [{"reason": "x"}]}, "no patron id"),
        (["assen"], {"blocks": "all"}, "expected"),
    ],
)
def test_a_command_that_cannot_be_sent_is_refused_with_why(
    tmp_path: Path, clock: FakeClock, targets: list[str], body: dict[str, Any], problem: str
) -> None:
    console = open_console(tmp_path, clock, None)
    with pytest.raises(SendRefused, match=problem):
        send(console, targets, body)
    with closing(console.connection()) as conn:
        assert CommandStore(conn).recent(10) == []


def test_without_a_key_nothing_is_sent(tmp_path: Path, clock: FakeClock) -> None:
    console = open_console(tmp_path, clock, None)
    console.key = None
    with pytest.raises(SendRefused, match="key_file"):
        send(console, ["assen"])


def test_a_refusal_of_a_tampered_copy_does_not_hide_the_genuine_command_applied_after_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    console = open_console(tmp_path, clock, None)
    command_id = send(console, ["assen"])
    unreadable = ack("assen", command_id, "refused", "not JSON") | {
        "command": None,
        "kind": None,
        "version": None,
    }
    with closing(console.connection()) as conn:
        ingest = Ingest(conn, PREFIX, clock)

        def take(body: dict[str, Any]) -> str:
            return ingest.handle(f"{PREFIX}/{body['branch']}/acks", json.dumps(body).encode())

        assert take(unreadable) == "unknown_ack"  # nothing to attach it to; not malformed either
        assert take(ack("assen", command_id, "refused", "bad signature")) == "received"
        assert take(ack("assen", command_id, "applied")) == "received"
        assert take(ack("assen", command_id, "refused", "stale or replayed")) == "unknown_ack"
        assert take(ack("emmen", command_id, "applied")) == "unknown_ack"  # not sent to emmen
        [target] = CommandStore(conn).targets(command_id)
        assert (target.status, target.reason) == ("applied", None)
