"""Write-behind: the EventWriter and the in-memory PIN lockouts, on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from datetime import timedelta

from controller.domain.events import Event, EventType
from controller.door import event_writer
from controller.door.event_writer import SPILL_FILE, EventWriter
from controller.services.lockouts import PinLockouts
from controller.store.pin_failures import PinFailures, load_pin_failures
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
