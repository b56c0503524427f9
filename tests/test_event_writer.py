"""Write-behind: the EventWriter and the in-memory PIN lockouts, on a real SQLite file."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from contextlib import closing
from datetime import timedelta

from controller.domain.decision import Reason
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.door import spill_file
from controller.door.branch_services import build_lockouts
from controller.door.event_writer import SPILL_FILE, SPILL_SET_ASIDE, EventWriter
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

    monkeypatch.setattr(spill_file, "open", recording_open, raising=False)
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


def test_writes_spilled_by_every_path_of_a_locked_run_keep_the_order_handed_in(runtime, clock, tmp_path):
    """Stopping during a lock spills the batch being retried and the queue after the overflow
    (newer writes) the writer spilled at each retry: the file's order is not the one handed in,
    the sequence numbers are. A PIN count written back out of order would lose wrong PINs."""
    member = add_member(runtime)
    spill = tmp_path / SPILL_FILE
    writer = EventWriter(runtime.db, spill, queue_size=2, busy_timeout=0.01)
    holder = sqlite3.connect(runtime.db.path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # every write meets the lock
    try:
        writer.start()
        writer.save(PinFailures(member.id, 1, None))
        assert until(lambda: writer.retries >= 1)  # the writer holds 1 and retries it
        for count in range(2, 7):  # 2 and 3 queued, 4 to 6 overflow into the file
            writer.save(PinFailures(member.id, count, None))
        assert until(lambda: writer.spilled == 3)
        writer.stop(timeout=0.1)  # spills 1 (being retried), then 2 and 3 (queued)
        assert until(lambda: writer.spilled == 6 and writer.waiting == 0)
        assert writer.spilled_pin_failures() == {member.id: PinFailures(member.id, 6, None)}
    finally:
        holder.close()
    again = EventWriter(runtime.db, spill)
    assert again.spilled_pin_failures() == {member.id: PinFailures(member.id, 6, None)}
    again.start()
    try:
        assert until(lambda: not spill.exists() and not spill.with_suffix(".replay").exists())
    finally:
        again.stop()
    with closing(runtime.connection()) as conn:
        assert load_pin_failures(conn) == {member.id: PinFailures(member.id, 6, None)}


def test_writes_after_a_refused_batch_follow_it_through_the_file(runtime, clock, tmp_path, monkeypatch):
    """A batch the database refuses (not a lock) is spilled; the writes handed in after it must
    not be committed before it is written back, or its older PIN count overwrites theirs."""
    member = add_member(runtime)
    spill = tmp_path / SPILL_FILE
    writer = EventWriter(runtime.db, spill)
    write, refusing, handed_in = writer._write, threading.Event(), threading.Event()

    def refuse_once(conn, batch):
        if not refusing.is_set():
            refusing.set()
            assert handed_in.wait(5)  # 2 and 3 are queued behind the batch being refused
            raise sqlite3.IntegrityError("refused")
        return write(conn, batch)

    monkeypatch.setattr(writer, "_write", refuse_once)
    writer.start()
    try:
        writer.save(PinFailures(member.id, 1, None))
        assert refusing.wait(5)
        writer.save(PinFailures(member.id, 2, None))
        writer.save(PinFailures(member.id, 3, None))
        handed_in.set()
        assert until(lambda: writer.flush(0) and not spill.exists())
        assert until(lambda: not spill.with_suffix(".replay").exists())
        writer.record(Event(EventType.EXIT_REQUEST, clock(), "e"))
        assert writer.flush(5) and not spill.exists()  # the episode is over: the queue again
    finally:
        handed_in.set()
        writer.stop()
    with closing(runtime.connection()) as conn:
        assert load_pin_failures(conn) == {member.id: PinFailures(member.id, 3, None)}
    assert [e.type for e in stored(runtime)] == [EventType.EXIT_REQUEST]


def spilled_by_an_unstarted_writer(runtime, spill, *writes: Event | PinFailures) -> None:
    """`writes` in `spill` as stop() leaves them when nothing drained the queue."""
    writer = EventWriter(runtime.db, spill, queue_size=1)
    for write in writes:
        writer.save(write) if isinstance(write, PinFailures) else writer.record(write)
    writer.stop(timeout=0)
    assert writer.spilled == len(writes)


def test_a_spill_file_that_cannot_be_written_back_is_set_aside_and_the_next_one_is_not_held_up(
    runtime, clock, tmp_path, caplog
):
    """Kept in place, such a file was retried alone at every start, the file behind it was
    never written back, and its stale PIN counts were loaded as newer than the database's."""
    member = add_member(runtime)
    spill, replay = tmp_path / SPILL_FILE, tmp_path / "events-spill.replay"
    spilled_by_an_unstarted_writer(
        runtime,
        spill,
        PinFailures(member.id, 2, None),
        Event(EventType.ACCESS_GRANTED, clock(), "e", detail="old"),
    )
    with open(spill, "a") as handle:  # parses, but the database refuses a time without a zone
        handle.write('{"kind": "event", "type": "exit_request", "at": "2026-11-25T20:00:00", "door": "e"}\n')
    spill.rename(replay)  # as a write-back that failed leaves it
    bad = replay.read_bytes()
    spilled_by_an_unstarted_writer(
        runtime, spill, Event(EventType.ACCESS_GRANTED, clock(), "e", detail="new")
    )
    aside = tmp_path / "events-spill.unwritable-20261125T203000Z.jsonl"

    writer = EventWriter(runtime.db, spill, door="e", clock=clock)
    writer.start()
    try:
        assert until(lambda: aside.exists() and not spill.exists() and not replay.exists())
        assert until(lambda: any(e.type is EventType.SERVICE for e in stored(runtime)))
        assert writer.spilled_pin_failures() == {}  # the set-aside counts are not newer
        writer.record(Event(EventType.EXIT_REQUEST, clock(), "e"))
        assert writer.flush(5) and not spill.exists()  # the episode is over: the queue again
    finally:
        writer.stop()
    assert aside.read_bytes() == bad  # kept whole, for a person to read
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert error.startswith(f"could not write back {replay} (ValueError: naive datetime")
    assert error.endswith(f"; set aside as {aside}")
    service = [e for e in stored(runtime) if e.type is EventType.SERVICE]
    assert [(e.reason, e.door) for e in service] == [(SPILL_SET_ASIDE, "e")]
    assert service[0].detail.startswith(aside.name + ": ValueError")
    granted = [e.detail for e in stored(runtime) if e.type is EventType.ACCESS_GRANTED]
    assert granted == ["new"]
    with closing(runtime.connection()) as conn:
        assert load_pin_failures(conn) == {}

    spilled_by_an_unstarted_writer(runtime, spill, PinFailures(member.id, 1, None))  # a later episode
    again = EventWriter(runtime.db, spill, clock=clock)
    assert again.spilled_pin_failures() == {member.id: PinFailures(member.id, 1, None)}
    again.start()
    try:
        assert until(lambda: not spill.exists() and not replay.exists())
    finally:
        again.stop()
    with closing(runtime.connection()) as conn:
        assert load_pin_failures(conn) == {member.id: PinFailures(member.id, 1, None)}
    assert sorted(p.name for p in tmp_path.glob("events-spill*")) == [aside.name]


def test_a_corrupt_byte_costs_its_line_not_the_file(runtime, clock, tmp_path):
    member = add_member(runtime)
    spill = tmp_path / SPILL_FILE
    spilled_by_an_unstarted_writer(
        runtime,
        spill,
        Event(EventType.ACCESS_GRANTED, clock(), "e", detail="0"),
        PinFailures(member.id, 2, None),
        Event(EventType.ACCESS_GRANTED, clock(), "e", detail="1"),
    )
    spill.write_bytes(spill.read_bytes().replace(b'"detail": "1"', b'"detail": "\xff"'))
    writer = EventWriter(runtime.db, spill)
    assert writer.spilled_pin_failures() == {member.id: PinFailures(member.id, 2, None)}
    writer.start()
    try:
        assert until(lambda: not spill.exists() and not spill.with_suffix(".replay").exists())
    finally:
        writer.stop()
    assert [e.detail for e in stored(runtime)] == ["0"]
    with closing(runtime.connection()) as conn:
        assert load_pin_failures(conn) == {member.id: PinFailures(member.id, 2, None)}
