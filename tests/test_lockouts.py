"""Escalating PIN lockouts: each lockout in a row doubles, up to a day, and survives a restart."""

from __future__ import annotations

from contextlib import closing
from dataclasses import replace
from datetime import timedelta

from controller.services.lockouts import MAX_LOCKOUT, QUIET_RESET, PinLockouts
from controller.store.pin_failures import PinFailures, load_pin_failures
from tests.helpers import add_member

BASE = timedelta(minutes=15)


def lock_once(lockouts: PinLockouts, member, clock):
    """Three wrong PINs (the limit in these tests); returns when the card unlocks."""
    for _ in range(2):
        assert lockouts.wrong_pin(member, clock()) is None
    until = lockouts.wrong_pin(member, clock())
    assert until is not None
    return until


def wait_out(clock, until) -> None:
    clock.advance(seconds=(until - clock()).total_seconds())


def test_each_lockout_in_a_row_doubles_up_to_a_day(runtime, clock):
    member, writes = add_member(runtime), []
    lockouts = PinLockouts(3, BASE, writes.append)
    lengths = []
    for _ in range(9):
        start = clock()
        until = lock_once(lockouts, member, clock)
        lengths.append(until - start)
        wait_out(clock, until)
    assert lengths == [BASE * 2**n for n in range(7)] + [MAX_LOCKOUT, MAX_LOCKOUT]
    assert MAX_LOCKOUT == timedelta(days=1)
    assert lockouts.in_a_row(member) == 9
    assert writes[-1] == PinFailures(member.id, 0, until, 9)


def test_a_right_pin_ends_the_run(runtime, clock):
    member = add_member(runtime)
    lockouts = PinLockouts(3, BASE, [].append)
    wait_out(clock, lock_once(lockouts, member, clock))
    wait_out(clock, lock_once(lockouts, member, clock))
    lockouts.cleared(member)
    assert lockouts.in_a_row(member) == 0
    start = clock()
    assert lock_once(lockouts, member, clock) == start + BASE


def test_a_quiet_day_after_a_lockout_ends_the_run(runtime, clock):
    member = add_member(runtime)
    lockouts = PinLockouts(3, BASE, [].append)
    wait_out(clock, lock_once(lockouts, member, clock))
    until = lock_once(lockouts, member, clock)
    wait_out(clock, until)
    clock.advance(seconds=QUIET_RESET.total_seconds() - 1)  # not quite a quiet day: still doubles
    start = clock()
    assert lock_once(lockouts, member, clock) == start + 4 * BASE
    clock.advance(seconds=(4 * BASE + QUIET_RESET).total_seconds())
    start = clock()
    assert lock_once(lockouts, member, clock) == start + BASE
    assert lockouts.in_a_row(member) == 1


def test_the_run_survives_a_restart(runtime, clock):
    member = add_member(runtime)
    with closing(runtime.connection()) as conn:
        first = PinLockouts.stored_in(conn, 3, BASE)
        wait_out(clock, lock_once(first, member, clock))
        wait_out(clock, lock_once(first, member, clock))
        fresh = runtime.members(conn).get(member.patron_id)
        after_restart = PinLockouts(3, BASE, [].append, load_pin_failures(conn))
    assert after_restart.in_a_row(fresh) == 2
    start = clock()
    assert lock_once(after_restart, fresh, clock) == start + 4 * BASE
    assert after_restart.in_a_row(fresh) == 3


def test_a_new_pin_from_staff_ends_the_run(runtime, clock):
    member = add_member(runtime)
    with closing(runtime.connection()) as conn:
        lockouts = PinLockouts.stored_in(conn, 3, BASE)
        wait_out(clock, lock_once(lockouts, member, clock))
        wait_out(clock, lock_once(lockouts, member, clock))
        runtime.members(conn).set_pin(member.patron_id, "4321", clock())
        renewed = runtime.members(conn).get(member.patron_id)
        assert load_pin_failures(conn) == {}
        assert lockouts.in_a_row(renewed) == 0
        start = clock()
        assert lock_once(lockouts, renewed, clock) == start + BASE


def test_a_spilled_count_wins_over_the_stored_one_before_and_after_its_write_back(runtime, clock):
    """The last run's newer counts (the event writer's spill file) hold from the start: while
    the member's row still has the stored lockout, and once the writer has written them back."""
    member = add_member(runtime)
    stored_until, spilled_until = clock() - timedelta(hours=2), clock() + timedelta(minutes=30)
    stored = {member.id: PinFailures(member.id, 0, stored_until, 1)}
    spilled = {member.id: PinFailures(member.id, 0, spilled_until, 2)}

    lockouts = PinLockouts(3, BASE, [].append, stored, spilled)
    assert lockouts.apply(replace(member, locked_until=stored_until)).locked_until == spilled_until
    assert lockouts.apply(replace(member, locked_until=spilled_until)).locked_until == spilled_until
    assert lockouts.in_a_row(replace(member, locked_until=spilled_until)) == 2


def test_a_spilled_right_pin_clears_a_stored_lockout_at_once(runtime, clock):
    member = add_member(runtime)
    stored_until = clock() + timedelta(minutes=10)
    stored = {member.id: PinFailures(member.id, 0, stored_until, 1)}
    spilled = {member.id: PinFailures(member.id, 0, None, 0)}  # the member typed the right PIN

    lockouts = PinLockouts(3, BASE, [].append, stored, spilled)

    assert lockouts.apply(replace(member, locked_until=stored_until)).locked_until is None
    assert lockouts.in_a_row(replace(member, locked_until=None)) == 0


def test_a_new_pin_from_staff_still_drops_a_spilled_count(runtime, clock):
    """Staff setting a new PIN deletes the stored row: a value neither the stored nor the
    spilled count had, so the loaded count is dropped as before."""
    member = add_member(runtime)
    stored_until, spilled_until = clock() - timedelta(hours=2), clock() + timedelta(minutes=30)
    lockouts = PinLockouts(
        3,
        BASE,
        [].append,
        {member.id: PinFailures(member.id, 0, stored_until, 1)},
        {member.id: PinFailures(member.id, 0, spilled_until, 2)},
    )
    assert lockouts.apply(replace(member, locked_until=None)).locked_until is None
    assert lockouts.in_a_row(member) == 0
