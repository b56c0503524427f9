"""Messages the broker acknowledged and then lost (issue 17): every outbox message carries the
branch's seq, the heartbeat the seq up to which the broker acknowledged all; the console keeps
which seqs it has, asks for a gap open longer than the grace period with a signed `resend`, and
the branch sends those rows again under the same ids, or refuses naming what it no longer keeps.
With a real Mosquitto SIGKILLed mid-burst: the console ends with exactly the ids written."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from controller.services.fleet.apply_handler import CommandHandler
from controller.services.fleet.commands import (
    MAX_RESEND,
    PUBLIC_KEY_FILE,
    RESEND_LIFETIME,
    CommandRefused,
    body_problem,
    verify,
)
from controller.services.fleet.messages import Topics
from controller.services.runtime import Runtime
from controller.sim.fleet import SimController, SimFleet
from controller.store.fleet_outbox import FleetOutbox
from fleet_console.service.gaps import GAP_GRACE, check_gaps
from fleet_console.service.ingest import Ingest
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.store.commands import CommandStore
from fleet_console.store.seqs import MAX_RANGES, Seqs, SeqStore
from tests.conftest import FakeClock
from tests.fleet.test_commands_apply import KEY, Door, command
from tests.fleet_console.conftest import open_console
from tests.fleet_console.console_web_support import event as web_event
from tests.fleet_console.console_web_support import new_console, signed_in, take_in
from tests.fleet_console.test_console_pages import row as page_row
from tests.mqtt_support import Broker

PREFIX = "openplus"
ARRIVAL_GUARD = 60.0


# --- the console's record of seqs -----------------------------------------------------------------


def test_seqs_in_order_leave_no_gap_and_out_of_order_ones_are_kept_as_ranges() -> None:
    seqs = Seqs("assen")
    for seq in (1, 2, 3):
        seqs.add(seq, seq)
    assert (seqs.through, seqs.ahead, seqs.first_gap()) == (3, [], None)
    for seq in (7, 8, 5, 10):
        seqs.add(seq, seq)
    assert seqs.ahead == [[5, 5], [7, 8], [10, 10]]
    assert seqs.first_gap() == (4, 4) and seqs.missing() == 3  # 4, 6 and 9
    assert seqs.add(4, 4) and seqs.through == 5 and seqs.first_gap() == (6, 6)
    seqs.acked = 14  # the heartbeat: the broker took up to 14
    assert seqs.missing() == 6  # 6, 9, 11..14
    seqs.give_up(6, 9)  # the branch no longer had them: 6 and 9 lost, 7 and 8 were here
    assert (seqs.lost, seqs.through, seqs.first_gap()) == (2, 10, (11, 14))


def test_the_out_of_order_ranges_are_bounded() -> None:
    seqs = Seqs("assen")
    for seq in range(2, 2 * (MAX_RANGES + 50), 2):
        seqs.add(seq, seq)
    assert len(seqs.ahead) == MAX_RANGES and seqs.first_gap() == (1, 1)


# --- the resend command's shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"from_seq": 1}, 'expected {"from_seq"'),
        ({"from_seq": 1, "to_seq": 2, "x": 1}, 'expected {"from_seq"'),
        ({"from_seq": "1", "to_seq": 2}, 'expected {"from_seq"'),
        ({"from_seq": True, "to_seq": 2}, 'expected {"from_seq"'),
        ({"from_seq": 0, "to_seq": 2}, "not 0..2"),
        ({"from_seq": 5, "to_seq": 4}, "not 5..4"),
        ({"from_seq": 1, "to_seq": MAX_RESEND + 1}, f"at most {MAX_RESEND} at a time"),
    ],
)
def test_a_resend_body_is_checked(body: dict[str, Any], problem: str) -> None:
    found = body_problem("resend", body)
    assert found is not None and problem in found
    assert body_problem("resend", {"from_seq": 1, "to_seq": MAX_RESEND}) is None


def test_a_resend_lives_minutes_not_days(clock: FakeClock) -> None:
    payload = command("resend", {"from_seq": 1, "to_seq": 2}, 1, clock)
    assert verify(payload, KEY.public_key(), "assen", {}, clock()).kind == "resend"
    clock.advance(seconds=RESEND_LIFETIME.total_seconds())
    with pytest.raises(CommandRefused, match="expired"):
        verify(payload, KEY.public_key(), "assen", {}, clock())
    long_lived = command("resend", {"from_seq": 1, "to_seq": 2}, 2, clock, expires_at="2030-01-01T00:00:00Z")
    with pytest.raises(CommandRefused, match="a resend command may live at most 0:10:00"):
        verify(long_lived, KEY.public_key(), "assen", {}, clock())


# --- the branch applies a resend ----------------------------------------------------------------


def outbox(conn: sqlite3.Connection) -> list[tuple[int | None, str | None, dict[str, Any]]]:
    rows = conn.execute("SELECT seq, sent_ms, payload FROM fleet_outbox ORDER BY id").fetchall()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def test_a_resend_puts_the_rows_back_under_their_ids_and_one_no_longer_kept_is_refused(
    runtime: Runtime, clock: FakeClock
) -> None:
    handler = CommandHandler(runtime, Topics(PREFIX, "assen"), KEY.public_key(), Door().hooks(), clock)
    with closing(runtime.connection()) as conn:
        box = FleetOutbox(conn)
        for n in range(5):
            box.add(f"{PREFIX}/assen/events", {"id": f"assen/{n + 1}"}, clock())
        box.mark_sent([row.id for row in box.unsent(0, 10)], clock())
        conn.commit()
        assert [(seq, payload["seq"]) for seq, _, payload in outbox(conn)] == [(n, n) for n in range(1, 6)]
        assert box.acked_through() == 5

        outcome = handler.handle(conn, command("resend", {"from_seq": 2, "to_seq": 3}, 1, clock))
        assert outcome.applied
        rows = outbox(conn)
        assert [(seq, sent is None) for seq, sent, _ in rows[:5]] == [
            (1, False),
            (2, True),
            (3, True),
            (4, False),
            (5, False),
        ]
        assert [payload["id"] for _, _, payload in rows[1:3]] == ["assen/2", "assen/3"]  # same ids
        assert rows[5][2]["status"] == "applied" and rows[5][0] == 6  # the ack has a seq too
        assert box.acked_through() == 1  # 2 is waiting again

        conn.execute("DELETE FROM fleet_outbox WHERE seq <= 3")  # purged after keep_sent_days
        conn.commit()
        refused = handler.handle(conn, command("resend", {"from_seq": 1, "to_seq": 3}, 2, clock))
        # Partly kept: what is kept goes again; the console's next ask, for 1..3, is refused.
        box.mark_sent([row.id for row in box.unsent(0, 10)], clock())
        conn.commit()
        assert handler.handle(conn, command("resend", {"from_seq": 1, "to_seq": 5}, 3, clock)).applied
        assert [seq for seq, sent, _ in outbox(conn) if sent is None] == [4, 5, 8]  # 8: its ack
    assert not refused.applied
    assert refused.reason == (
        "resend: seq 1..3 no longer kept at this branch (sent messages stay 7 days in its outbox)"
    )


# --- the console: gaps noticed, asked for after the grace, given up when not kept ----------------


@pytest.fixture
def console(tmp_path: Path, clock: FakeClock) -> Iterator[ConsoleRuntime]:
    runtime = open_console(tmp_path, clock, None)
    yield runtime


def take(conn: sqlite3.Connection, clock: FakeClock, branch: str, leaf: str, payload: dict[str, Any]) -> str:
    message = {"v": 1, "branch": branch, "at": clock().isoformat(), **payload}
    return Ingest(conn, PREFIX, clock).handle(f"{PREFIX}/{branch}/{leaf}", json.dumps(message).encode())


def event(clock: FakeClock, n: int) -> dict[str, Any]:
    return {"id": f"assen/{n}", "type": "access_granted", "seq": n}


def test_a_gap_is_asked_for_only_after_the_grace_period(console: ConsoleRuntime, clock: FakeClock) -> None:
    with closing(console.connection()) as conn:
        for n in (1, 2, 5, 6):
            assert take(conn, clock, "assen", "events", event(clock, n)) == "received"
        assert check_gaps(conn, clock, console.key) == []  # seen now
        clock.advance(seconds=GAP_GRACE.total_seconds() - 1)
        assert check_gaps(conn, clock, console.key) == []  # 3 and 4 may still be on the way
        clock.advance(seconds=1)
        [asked] = check_gaps(conn, clock, console.key)
        assert check_gaps(conn, clock, console.key) == []  # asked once, not every look
        store = CommandStore(conn)
        resend = store.get(asked)
        assert resend is not None and (resend.kind, resend.body) == ("resend", {"from_seq": 3, "to_seq": 4})
        assert [target.branch for target in store.targets(asked)] == ["assen"]
        seqs = SeqStore(conn).get("assen")
        assert seqs is not None and seqs.missing() == 2

        for n in (3, 4):  # the branch sent them again
            take(conn, clock, "assen", "events", event(clock, n))
        assert SeqStore(conn).with_gaps() == [] and check_gaps(conn, clock, console.key) == []


def test_the_console_counts_from_the_first_seq_it_hears_of_a_branch(
    console: ConsoleRuntime, clock: FakeClock
) -> None:
    """A new console (or a branch that published before it) has no history to ask for."""
    with closing(console.connection()) as conn:
        take(conn, clock, "assen", "events", event(clock, 500))
        take(conn, clock, "emmen", "heartbeat", {"outbox": 0, "acked_seq": 70})
        take(conn, clock, "emmen", "events", {**event(clock, 71), "id": "emmen/71"})
        clock.advance(hours=1)
        assert check_gaps(conn, clock, console.key) == [] and SeqStore(conn).with_gaps() == []


def test_messages_lost_at_the_end_show_through_the_heartbeat(
    console: ConsoleRuntime, clock: FakeClock
) -> None:
    with closing(console.connection()) as conn:
        take(conn, clock, "assen", "events", event(clock, 1))
        take(conn, clock, "assen", "heartbeat", {"outbox": 0, "acked_seq": 4})
        check_gaps(conn, clock, console.key)
        clock.advance(seconds=GAP_GRACE.total_seconds())
        [asked] = check_gaps(conn, clock, console.key)
        resend = CommandStore(conn).get(asked)
        assert resend is not None and resend.body == {"from_seq": 2, "to_seq": 4}


def test_a_refused_resend_of_what_the_branch_no_longer_keeps_counts_as_lost(
    console: ConsoleRuntime, clock: FakeClock
) -> None:
    with closing(console.connection()) as conn:
        for n in (1, 5):
            take(conn, clock, "assen", "events", event(clock, n))
        check_gaps(conn, clock, console.key)
        clock.advance(seconds=GAP_GRACE.total_seconds())
        [asked] = check_gaps(conn, clock, console.key)
        reason = "resend: seq 2..4 no longer kept at this branch (sent messages stay 7 days in its outbox)"
        ack = {
            "command": asked,
            "kind": "resend",
            "version": 1,
            "status": "refused",
            "reason": reason,
            "seq": 9,
        }
        assert take(conn, clock, "assen", "acks", ack) == "received"
        seqs = SeqStore(conn).get("assen")
        assert seqs is not None
        assert (seqs.lost, seqs.through, seqs.first_gap()) == (3, 5, (6, 8))  # the ack's seq 9 came
        assert [target.reason for target in CommandStore(conn).targets(asked)] == [reason]


def test_a_resend_refused_for_another_reason_is_shown_and_not_asked_again(
    console: ConsoleRuntime, clock: FakeClock
) -> None:
    with closing(console.connection()) as conn:
        for n in (1, 3):
            take(conn, clock, "assen", "events", event(clock, n))
        check_gaps(conn, clock, console.key)
        clock.advance(seconds=GAP_GRACE.total_seconds())
        [asked] = check_gaps(conn, clock, console.key)
        why = "no fleet public key configured ([fleet] command_key_file)"
        ack = {"command": asked, "kind": "resend", "version": 1, "status": "refused", "reason": why}
        take(conn, clock, "assen", "acks", ack)
        clock.advance(hours=1)
        assert check_gaps(conn, clock, console.key) == []
        seqs = SeqStore(conn).get("assen")
        assert seqs is not None and seqs.refused == why


def test_the_overview_shows_a_branch_with_missing_and_lost_events(tmp_path: Path, clock: FakeClock) -> None:
    console = new_console(tmp_path, clock)
    messages: list[tuple[str, str, dict[str, Any] | bytes]] = [
        ("assen", "events", {**web_event("assen", n), "seq": n}) for n in (1, 2, 5)
    ]
    messages += [("emmen", "events", {**web_event("emmen", n), "seq": n}) for n in (1, 2, 3)]
    messages += [("meppel", "events", {**web_event("meppel", n), "seq": n}) for n in (1, 5)]
    assert set(take_in(console, messages)) == {"received"}
    with closing(console.connection()) as conn:
        check_gaps(conn, clock, console.key)
        clock.advance(seconds=GAP_GRACE.total_seconds())
        asked = {
            CommandStore(conn).targets(command)[0].branch: command
            for command in check_gaps(conn, clock, console.key)
        }
    assert set(asked) == {"assen", "meppel"}
    take_in(console, [("zwolle", "events", {**web_event("zwolle", n), "seq": n}) for n in (1, 3)])
    with closing(console.connection()) as conn:
        assert check_gaps(conn, clock, console.key) == []  # zwolle's gap: seen now
    not_kept = "resend: seq 2..4 no longer kept at this branch (sent messages stay 7 days in its outbox)"
    ack = {"v": 1, "branch": "meppel", "command": asked["meppel"], "kind": "resend", "version": 2}
    take_in(
        console,
        [("meppel", "acks", {**ack, "status": "refused", "reason": not_kept, "at": clock().isoformat()})],
    )

    page = signed_in(console, "sam").get("/overview").text
    assen, emmen, meppel, zwolle = (
        page_row(page, f"branch-{b}") for b in ("assen", "emmen", "meppel", "zwolle")
    )
    assert (
        '<span class="tag warn">2 missing</span>' in assen and "asked again 2026-06-10 14:05" in assen
    )  # local time
    assert 'class="missing">0</td>' in emmen  # nothing missing
    assert '<span class="tag warn">3 lost</span>' in meppel and "no longer kept at the branch" in meppel
    assert 'class="missing">0</td>' in zwolle  # seq 2 seen missing just now: maybe on its way


# --- with a real Mosquitto ------------------------------------------------------------------------


def console_seqs(console: ConsoleRuntime, branch: str) -> Seqs:
    with closing(console.connection()) as conn:
        return SeqStore(conn).get(branch) or Seqs(branch)


def stored_ids(console: ConsoleRuntime) -> list[str]:
    with closing(console.connection()) as conn:
        return [row[0] for row in conn.execute("SELECT msg_id FROM fleet_events")]


def resends(console: ConsoleRuntime) -> list[str]:
    with closing(console.connection()) as conn:
        return [row.id for row in CommandStore(conn).recent(100) if row.kind == "resend"]


def wait_for(check: Callable[[], object], timeout: float = ARRIVAL_GUARD) -> bool:
    from tests.fleet.test_fleet_scale import wait_for as scale_wait

    return scale_wait(lambda: bool(check()), timeout)


def burst(controller: SimController, attempts: int) -> None:
    controller.enter(attempts)
    assert controller.flush()


def test_the_normal_flow_reports_no_gap(
    sim_fleet: Callable[..., SimFleet], fleet_console: ConsoleRuntime, clock: FakeClock, tmp_path: Path
) -> None:
    [branch] = sim_fleet(1, command_key=tmp_path / "keys" / PUBLIC_KEY_FILE)
    burst(branch, 300)
    assert wait_for(lambda: set(stored_ids(fleet_console)) == set(branch.event_ids()))
    clock.advance(seconds=60)  # a heartbeat with acked_seq
    assert wait_for(lambda: console_seqs(fleet_console, branch.branch).acked == len(branch.event_ids()))
    clock.advance(seconds=GAP_GRACE.total_seconds() * 2)
    with closing(fleet_console.connection()) as conn:
        assert check_gaps(conn, clock, fleet_console.key) == []
    seqs = console_seqs(fleet_console, branch.branch)
    assert (seqs.through, seqs.missing(), seqs.lost) == (len(branch.event_ids()), 0, 0)
    assert resends(fleet_console) == []


def test_broker_killed_mid_burst_the_console_ends_with_exactly_the_ids_written(
    sim_fleet: Callable[..., SimFleet],
    fleet_broker: Broker,
    fleet_console: ConsoleRuntime,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    [branch] = sim_fleet(1, command_key=tmp_path / "keys" / PUBLIC_KEY_FILE)
    branch.enter(400)
    fleet_broker.messages.wait_until(lambda items: len(items) >= 100, ARRIVAL_GUARD)
    fleet_broker.stop_process(kill=True)  # a crash: what it acknowledged and had not saved is gone
    assert branch.flush()
    fleet_broker.start()
    fleet_broker.wait_resubscribed()
    burst(branch, 20)  # life goes on after the restart
    written = branch.event_ids()
    assert wait_for(lambda: branch.waiting() == 0)  # the broker acknowledged every one
    assert wait_for(lambda: fleet_console.link is not None and fleet_console.link.subscribed.is_set())
    lost_in_crash = set(written) - set(stored_ids(fleet_console))
    clock.advance(seconds=60)  # a heartbeat: acked_seq covers a gap at the end too
    assert wait_for(lambda: console_seqs(fleet_console, branch.branch).acked >= len(written))

    # The link's look (every second) notes when it first saw the gap; once the grace has
    # passed on the console's clock it asks, and the branch sends those rows again.
    assert wait_for(
        lambda: (seqs := console_seqs(fleet_console, branch.branch)).first_gap() is None or seqs.gap_since
    )
    assert resends(fleet_console) == []
    clock.advance(seconds=GAP_GRACE.total_seconds())
    assert wait_for(lambda: set(stored_ids(fleet_console)) >= set(written)), console_seqs(
        fleet_console, branch.branch
    )
    assert wait_for(lambda: console_seqs(fleet_console, branch.branch).missing() == 0)
    stored = stored_ids(fleet_console)
    assert len(stored) == len(set(stored))  # each id once
    # Besides the entries: the branch's audit lines of the resends it applied, nothing else.
    with closing(fleet_console.connection()) as conn:
        extra = {
            row[0]: row[1]
            for row in conn.execute("SELECT msg_id, reason FROM fleet_events")
            if row[0] not in set(written)
        }
    assert set(extra.values()) <= {"fleet_command_applied"} and len(extra) == len(resends(fleet_console))
    seqs = console_seqs(fleet_console, branch.branch)
    assert (seqs.missing(), seqs.lost) == (0, 0)
    if lost_in_crash:  # the crash lost some (it nearly always does): they came by a resend
        assert resends(fleet_console)


def test_a_resend_of_a_range_no_longer_kept_is_refused_with_the_reason(
    sim_fleet: Callable[..., SimFleet], fleet_console: ConsoleRuntime, clock: FakeClock, tmp_path: Path
) -> None:
    [branch] = sim_fleet(1, command_key=tmp_path / "keys" / PUBLIC_KEY_FILE)
    burst(branch, 5)
    assert wait_for(lambda: len(stored_ids(fleet_console)) == len(branch.event_ids()))
    assert wait_for(lambda: branch.waiting() == 0)
    with closing(branch.db.connect()) as conn:
        conn.execute("DELETE FROM fleet_outbox WHERE seq <= 3")  # purged after keep_sent_days
        conn.commit()
    with closing(fleet_console.connection()) as conn:  # the console lost 1..3, say
        conn.execute(
            "UPDATE branch_seqs SET through = 0, ahead = '[[4, 1000000]]' WHERE branch = ?", (branch.branch,)
        )
        conn.commit()
        check_gaps(conn, clock, fleet_console.key)
        clock.advance(seconds=GAP_GRACE.total_seconds())
        [asked] = check_gaps(conn, clock, fleet_console.key)
    fleet_console.wake_link()

    def answer() -> tuple[str, str | None]:
        with closing(fleet_console.connection()) as conn:
            [target] = CommandStore(conn).targets(asked)
        return target.status, target.reason

    assert wait_for(lambda: answer()[0] != "pending")
    assert answer() == (
        "refused",
        "resend: seq 1..3 no longer kept at this branch (sent messages stay 7 days in its outbox)",
    )
    seqs = console_seqs(fleet_console, branch.branch)
    assert seqs.lost == 3 and seqs.through >= 3  # given up: not asked for again
