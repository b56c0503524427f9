"""Write-behind: the EventWriter and the in-memory PIN lockouts, on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from datetime import timedelta

from controller.domain.decision import Reason
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.door import event_writer
from controller.door.branch_services import build_lockouts
from controller.door.event_writer import SPILL_FILE, EventWriter
from controller.services.lockouts import PinLockouts
from controller.store.pin_failures import PinFailures, load_pin_failures
from tests.conftest import DEMO_CARD, simulated_openplus_branch
from tests.helpers import add_member
from tests.test_door_isolation import until


def stored(runtime) -> list[Event]:
    with closing(runtime.connection()) as conn:
        return runtime.events(conn).query(limit=1000)


def test_writes_in_order_and_tells_the_camera_each_id(runtime, clock, tmp_path):
    seen = []
    writer = EventWriter(
        runtime.db,
        tmp_path / SPILL_FILE,
        on_event_written=lambda event_id, event: seen.append((event_id, event)),
    )
    writer.start()
    try:
        for n in range(3):
            writer.record(Event(EventType.EXIT_REQUEST, clock(), "e", detail=str(n)))
        assert writer.flush(5)
    finally:
        writer.stop()
    assert [e.detail for e in reversed(stored(runtime))][-3:] == ["0", "1", "2"]
    assert [event.detail for _, event in seen] == ["0", "1", "2"]
    assert all(isinstance(event_id, int) for event_id, _ in seen)


def test_a_full_queue_spills_to_a_file_that_the_next_start_writes_back(runtime, clock, tmp_path):
    spill = tmp_path / SPILL_FILE
    writer = EventWriter(runtime.db, spill, queue_size=2)  # not started: nothing drains it
    for n in range(5):
        writer.record(Event(EventType.ACCESS_GRANTED, clock(), "e", detail=str(n)))
    assert not spill.exists()  # the caller's thread (the door's) never touches the disk
    assert writer.spilled == 0 and writer.waiting == 5  # three of them held in memory
    assert not writer.flush(0)
    writer.stop(timeout=0)  # the two queued and the three in memory are spilled: nothing lost
    assert writer.spilled == 5 and writer.waiting == 0 and not stored(runtime)
    assert [json.loads(line)["detail"] for line in spill.read_text().splitlines()] == list("01234")

    again = EventWriter(runtime.db, spill)
    again.start()
    try:
        assert again.flush(5)
        again.record(Event(EventType.SERVICE, clock(), "e", reason="started"))
        assert again.flush(5)
    finally:
        again.stop()
    details = [e.detail for e in reversed(stored(runtime)) if e.type is EventType.ACCESS_GRANTED]
    assert details == ["0", "1", "2", "3", "4"]  # in the order spilled
    assert not spill.exists() and not spill.with_suffix(".replay").exists()


def test_spilled_pin_counts_keep_the_lockouts_in_a_row(runtime, clock, tmp_path):
    member = add_member(runtime)
    until = clock() + timedelta(minutes=30)
    spill = tmp_path / SPILL_FILE
    writer = EventWriter(runtime.db, spill, queue_size=1)  # not started: stop() spills it
    writer.save(PinFailures(member.id, 0, until, 2))
    writer.stop(timeout=0)
    with open(spill, "a") as handle:  # a line spilled by a version without the run count
        handle.write('{"kind": "pin_failures", "member_id": 999, "failures": 1, "locked_until": null}\n')
    again = EventWriter(runtime.db, spill)
    again.start()
    try:
        assert again.flush(5)
    finally:
        again.stop()
    with closing(runtime.connection()) as conn:
        assert load_pin_failures(conn) == {member.id: PinFailures(member.id, 0, until, 2)}


def test_a_torn_spill_line_is_skipped_not_fatal(runtime, clock, tmp_path):
    spill = tmp_path / SPILL_FILE
    writer = EventWriter(runtime.db, spill, queue_size=1)
    writer.record(Event(EventType.DOOR_FORCED, clock(), "e"))
    writer.stop(timeout=0)
    with open(spill, "a") as handle:
        handle.write('{"kind": "event", "type": "door_op')  # power cut mid-line
    again = EventWriter(runtime.db, spill)
    again.start()
    try:
        assert again.flush(5)
        assert again.flush(5)
    finally:
        again.stop()
    assert [e.type for e in stored(runtime)] == [EventType.DOOR_FORCED]


def test_a_locked_database_is_retried_until_it_frees(runtime, clock, tmp_path):
    writer = EventWriter(runtime.db, tmp_path / SPILL_FILE, busy_timeout=0.01)
    holder = sqlite3.connect(runtime.db.path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    writer.start()
    try:
        writer.record(Event(EventType.EXIT_REQUEST, clock(), "e"))
        assert not writer.flush(0.3) and writer.retries >= 1
        holder.execute("ROLLBACK")
        assert writer.flush(5)
    finally:
        holder.close()
        writer.stop()
    assert [e.type for e in stored(runtime)] == [EventType.EXIT_REQUEST]


def test_a_full_queue_under_a_lock_spills_on_the_writer_thread_and_comes_back_without_a_restart(
    runtime, clock, tmp_path, monkeypatch
):
    opened_on: list[str] = []

    def recording_open(*args, **kwargs):
        opened_on.append(threading.current_thread().name)
        return open(*args, **kwargs)

    monkeypatch.setattr(event_writer, "open", recording_open, raising=False)
    spill = tmp_path / SPILL_FILE
    writer = EventWriter(runtime.db, spill, queue_size=2, busy_timeout=0.01)
    holder = sqlite3.connect(runtime.db.path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # as a big member import holds it
    writer.start()
    try:
        writer.record(Event(EventType.ACCESS_GRANTED, clock(), "e", detail="0"))
        assert until(lambda: writer.retries >= 1)  # the writer holds "0" and meets the lock
        for n in range(1, 20):
            writer.record(Event(EventType.ACCESS_GRANTED, clock(), "e", detail=str(n)))
        # "0" being retried and "1", "2" queued are in flight; the 17 the queue had no room for
        # reach the spill file at the writer's next retry, not on the caller's thread
        assert until(lambda: writer.waiting == 3 and spill.exists()), writer.waiting
        assert writer.spilled == 17 and opened_on and set(opened_on) == {"event-writer"}
        holder.execute("ROLLBACK")  # the lock ends; no restart follows

        def granted() -> list[str]:
            return [e.detail for e in reversed(stored(runtime)) if e.type is EventType.ACCESS_GRANTED]

        assert until(lambda: len(granted()) >= 20 and not spill.exists()), granted()
        assert writer.flush(5)
    finally:
        holder.close()
        writer.stop()
    assert granted() == [str(n) for n in range(20)]  # in order, each once
    assert not spill.exists() and not spill.with_suffix(".replay").exists()
    assert set(opened_on) == {"event-writer"}


# --- PIN lockouts in memory ----------------------------------------------------------------------
def lockouts_for(runtime, writes):
    return PinLockouts(3, timedelta(minutes=15), writes.append)


def test_wrong_pins_lock_in_memory_and_hand_each_count_to_the_writer(runtime, clock):
    member, writes = add_member(runtime), []
    lockouts = lockouts_for(runtime, writes)
    assert lockouts.wrong_pin(member, clock()) is None
    assert lockouts.wrong_pin(member, clock()) is None
    until = lockouts.wrong_pin(member, clock())
    assert until == clock() + timedelta(minutes=15)
    assert lockouts.apply(member).locked_until == until
    assert writes == [
        PinFailures(member.id, 1, None),
        PinFailures(member.id, 2, None),
        PinFailures(member.id, 0, until, 1),
    ]


def test_a_lockout_survives_a_restart(runtime, clock):
    member = add_member(runtime)
    with closing(runtime.connection()) as conn:
        first = PinLockouts.stored_in(conn, 3, timedelta(minutes=15))
        for _ in range(3):
            first.wrong_pin(member, clock())
        fresh = runtime.members(conn).get(member.patron_id)
        after_restart = PinLockouts(3, timedelta(minutes=15), print, load_pin_failures(conn))
    assert after_restart.apply(fresh).locked_until == clock() + timedelta(minutes=15)


def test_a_new_pin_from_staff_lifts_the_lockout_the_door_holds(runtime, clock):
    member = add_member(runtime)
    lockouts = lockouts_for(runtime, [])
    for _ in range(3):
        lockouts.wrong_pin(member, clock())
    with closing(runtime.connection()) as conn:
        runtime.members(conn).set_pin(member.patron_id, "4321", clock())
        renewed = runtime.members(conn).get(member.patron_id)
    assert lockouts.apply(renewed).locked_until is None
    assert lockouts.wrong_pin(renewed, clock()) is None  # counting starts again from zero


def test_a_newer_pin_count_handed_in_while_older_ones_are_spilled_is_the_one_that_stays(
    runtime, clock, tmp_path
):
    """An upsert spilled during a lock must not be written back over a newer one: once the
    writer spills, later writes follow through the file, in order, until it is written back."""
    member = add_member(runtime)
    spill = tmp_path / SPILL_FILE
    caught_up, go_on = threading.Event(), threading.Event()

    def hook(event_id: int, event: Event) -> None:  # the queue has room again: "2" is committed
        if event.detail == "2":
            caught_up.set()
            go_on.wait(5)

    writer = EventWriter(runtime.db, spill, queue_size=2, busy_timeout=0.01, on_event_written=hook)
    holder = sqlite3.connect(runtime.db.path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    writer.start()
    try:
        writer.record(Event(EventType.ACCESS_REFUSED, clock(), "e", detail="0"))
        assert until(lambda: writer.retries >= 1)  # the writer holds "0" and meets the lock
        writer.record(Event(EventType.ACCESS_REFUSED, clock(), "e", detail="1"))
        writer.record(Event(EventType.ACCESS_REFUSED, clock(), "e", detail="2"))
        writer.save(PinFailures(member.id, 1, None))  # no room: into the spill file
        assert until(lambda: spill.exists() and writer.waiting == 3), writer.waiting
        holder.execute("ROLLBACK")
        assert caught_up.wait(5)
        writer.save(PinFailures(member.id, 2, None))  # the door's newer count, the queue empty
        go_on.set()
        assert until(lambda: writer.flush(0) and not spill.exists())
        assert until(lambda: not spill.with_suffix(".replay").exists())
        with closing(runtime.connection()) as conn:
            assert load_pin_failures(conn) == {member.id: PinFailures(member.id, 2, None)}
        writer.record(Event(EventType.ACCESS_REFUSED, clock(), "e", detail="3"))
        assert writer.flush(5) and not spill.exists()  # the episode is over: the queue again
    finally:
        go_on.set()
        holder.close()
        writer.stop()
    details = [e.detail for e in reversed(stored(runtime)) if e.type is EventType.ACCESS_REFUSED]
    assert details == ["0", "1", "2", "3"]


def spilled_by_a_locked_run(runtime, spill, *writes: PinFailures) -> None:
    """`writes` in `spill` as a run leaves them that stopped while the database was locked."""
    writer = EventWriter(runtime.db, spill, busy_timeout=0.01)
    holder = sqlite3.connect(runtime.db.path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    writer.start()
    try:
        for write in writes:
            writer.save(write)
        writer.stop(timeout=0.1)
    finally:
        holder.close()
    assert spill.exists() and writer.spilled == len(writes)


def test_a_spilled_lockout_run_is_counted_on_once_written_back(runtime, settings, clock):
    """The next lockout of a run the last run spilled is doubled, as after a stored one."""
    member = add_member(runtime)
    locked = clock() + timedelta(minutes=15, microseconds=1234)  # finer than the database keeps
    spill = settings.data_dir / SPILL_FILE
    spilled_by_a_locked_run(
        runtime, spill, PinFailures(member.id, 2, None), PinFailures(member.id, 0, locked, 1)
    )
    writer = EventWriter(runtime.db, spill)
    with closing(runtime.connection()) as conn:
        lockouts = build_lockouts(settings, writer, conn)
        writer.start()
        try:
            assert until(lambda: not spill.exists() and not spill.with_suffix(".replay").exists())
            fresh = runtime.members(conn).get(member.patron_id)
            assert lockouts.in_a_row(fresh) == 1
            clock.advance(minutes=16)
            for _ in range(settings.access.max_wrong_pins - 1):
                assert lockouts.wrong_pin(fresh, clock()) is None
            assert lockouts.wrong_pin(fresh, clock()) == clock() + timedelta(minutes=30)
        finally:
            writer.stop()


def test_a_lockout_only_in_the_spill_file_holds_from_the_start(runtime, settings, clock):
    """The door starts from the counts the last run spilled, not only from the database's."""
    member = add_member(runtime)  # DEMO_CARD, PIN 1234
    spill = settings.data_dir / SPILL_FILE
    spilled_by_a_locked_run(runtime, spill, PinFailures(member.id, 0, clock() + timedelta(minutes=15), 1))
    sim, service = simulated_openplus_branch(settings, clock)  # not started: nothing written back
    try:
        decision = service.authorizer.authorize(DEMO_CARD, "1234", "e", DoorMode.OPENPLUS, clock())
    finally:
        service.stop()
        sim.close()
    assert decision.reason is Reason.CARD_LOCKED
