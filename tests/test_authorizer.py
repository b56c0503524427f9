"""The authorizer with real storage: lockout and its expiry, the reader throttle, the event row."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

import pytest

from controller.domain.decision import Reason
from controller.domain.events import EventType
from controller.domain.modes import DoorMode
from controller.services.access import Authorizer
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime
from tests.helpers import member_row

CARD = "29990000000001"


@pytest.fixture
def door(runtime: Runtime, clock):
    conn = runtime.connection()
    admin = MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "entrance")
    admin.replace_list([(n, member_row(n)) for n in range(1, 30)], "test")
    authorizer = Authorizer(
        runtime.members(conn), runtime.events(conn), runtime.hasher, runtime.settings.access, "entrance"
    )
    yield authorizer, runtime.events(conn), runtime.members(conn)
    conn.close()


def attempt(authorizer, clock, pin="1234", card=CARD, reader="front", mode=DoorMode.OPENPLUS):
    return authorizer.authorize(card, pin, reader, mode, clock())


def test_grant_is_logged_without_card_number_or_pin(door, clock):
    authorizer, events, _ = door
    assert attempt(authorizer, clock).granted
    (event,) = [e for e in events.query() if e.type is EventType.ACCESS_GRANTED]
    assert event.member_ref == "P00001" and event.card_hint == "…0001"
    row_text = repr(event)
    assert CARD not in row_text and "1234" not in row_text.replace("…0001", "")
    assert event.at == clock()


def test_five_wrong_pins_lock_the_card_for_fifteen_minutes(door, clock):
    authorizer, _, members = door
    reasons = [attempt(authorizer, clock, pin="0000").reason for _ in range(5)]
    assert reasons == [Reason.WRONG_PIN] * 4 + [Reason.CARD_LOCKED]
    # Locked: even the right PIN is refused, and the lock survives a restart (it is stored).
    assert attempt(authorizer, clock).reason is Reason.CARD_LOCKED
    clock.advance(minutes=14, seconds=59)
    assert attempt(authorizer, clock).reason is Reason.CARD_LOCKED
    clock.advance(seconds=1)
    assert attempt(authorizer, clock).granted


def test_lockout_is_persisted_and_expires(door, clock, runtime):
    authorizer, _, _ = door
    for _ in range(5):
        attempt(authorizer, clock, pin="0000")
    with closing(runtime.connection()) as conn:  # a fresh connection, as after a restart
        locked = runtime.members(conn).get("P00001").locked_until
    assert locked is not None
    assert abs((locked - clock.now).total_seconds() - 15 * 60) < 1


def test_a_grant_resets_the_wrong_pin_count(door, clock):
    authorizer, _, _ = door
    for _ in range(4):
        attempt(authorizer, clock, pin="0000")
    assert attempt(authorizer, clock).granted
    for _ in range(4):
        assert attempt(authorizer, clock, pin="0000").reason is Reason.WRONG_PIN


def lock_card(door, clock, lockout_minutes: int) -> None:
    """Five wrong PINs lock the card for `lockout_minutes` (as stored); then sit it out."""
    authorizer, _, members = door
    reasons = [attempt(authorizer, clock, pin="0000").reason for _ in range(5)]
    assert reasons[-1] is Reason.CARD_LOCKED
    assert members.get("P00001").locked_until == clock() + timedelta(minutes=lockout_minutes)
    clock.advance(minutes=lockout_minutes - 1)
    assert attempt(authorizer, clock).reason is Reason.CARD_LOCKED
    clock.advance(minutes=1)


def test_a_second_lockout_in_a_row_lasts_twice_as_long_and_raises_an_alarm(door, clock):
    authorizer, events, _ = door
    lock_card(door, clock, 15)
    assert not [e for e in events.query() if e.type is EventType.ALARM]
    lock_card(door, clock, 30)
    (alarm,) = [e for e in events.query() if e.type is EventType.ALARM]
    assert alarm.reason == "pin_lockouts_escalating" and alarm.member_ref == "P00001"
    assert alarm.card_hint == "…0001" and "2 in a row" in alarm.detail
    assert CARD not in repr(alarm)
    lock_card(door, clock, 60)
    assert len([e for e in events.query() if e.type is EventType.ALARM]) == 2
    assert attempt(authorizer, clock).granted  # the right PIN ends the run
    lock_card(door, clock, 15)


def test_a_right_pin_ends_the_run_even_when_the_member_is_refused(door, clock):
    authorizer, _, members = door
    lock_card(door, clock, 15)
    lock_card(door, clock, 30)
    members.set_blocked("P00001", True, None, clock())
    assert attempt(authorizer, clock).reason is Reason.BLOCKED  # the PIN was right
    members.set_blocked("P00001", False, None, clock())
    lock_card(door, clock, 15)


def test_lockout_count_is_configurable(runtime, clock):
    settings = runtime.settings.model_copy(
        update={"access": runtime.settings.access.model_copy(update={"max_wrong_pins": 2})}
    )
    with closing(runtime.connection()) as conn:
        MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "e").replace_list(
            [(1, member_row(1))], "test"
        )
        authorizer = Authorizer(
            runtime.members(conn), runtime.events(conn), runtime.hasher, settings.access, "e"
        )
        assert attempt(authorizer, clock, pin="0000").reason is Reason.WRONG_PIN
        assert attempt(authorizer, clock, pin="0000").reason is Reason.CARD_LOCKED


def test_many_failures_from_different_cards_slow_the_reader(door, clock):
    authorizer, _, _ = door
    # Ten unknown cards in a row at one reader (card cycling).
    for n in range(10):
        assert attempt(authorizer, clock, card=f"1111000000{n:04d}").reason is Reason.UNKNOWN_CARD
        clock.advance(seconds=1)
    # Now the door's readers pause, even for a good card, and at its other reader too.
    assert attempt(authorizer, clock).reason is Reason.READER_SLOWED
    assert attempt(authorizer, clock, reader="side").reason is Reason.READER_SLOWED
    clock.advance(seconds=5)
    assert attempt(authorizer, clock).granted
    # One more failure doubles the pause.
    attempt(authorizer, clock, card="11110000009999")
    clock.advance(seconds=9)
    assert attempt(authorizer, clock).reason is Reason.READER_SLOWED
    clock.advance(seconds=1)
    assert attempt(authorizer, clock).granted


def cycling_alarms(events) -> list:
    return [e for e in events.query() if e.type is EventType.ALARM and e.reason == "card_cycling"]


def test_alternating_readers_still_slows_the_door_with_one_alarm(door, clock):
    authorizer, events, _ = door
    readers = ("rfid", "scanner")
    for n in range(10):
        attempt(authorizer, clock, card=f"1111000000{n:04d}", reader=readers[n % 2])
        clock.advance(seconds=1)
    assert attempt(authorizer, clock, reader="scanner").reason is Reason.READER_SLOWED
    assert attempt(authorizer, clock, reader="rfid").reason is Reason.READER_SLOWED
    (alarm,) = cycling_alarms(events)
    assert alarm.at == clock() - timedelta(seconds=1) and "reader=scanner" in alarm.detail
    # The slowdown goes on (each refusal once a pause is over doubles it): no alarm per card.
    last, pause = clock() - timedelta(seconds=1), timedelta(seconds=5)
    for n in range(4):
        clock.advance(seconds=(last + pause - clock()).total_seconds())
        assert (
            attempt(authorizer, clock, card=f"2222000000{n:04d}", reader=readers[n % 2]).reason
            is Reason.UNKNOWN_CARD
        )
        assert attempt(authorizer, clock, reader=readers[n % 2]).reason is Reason.READER_SLOWED
        last, pause = clock(), pause * 2
    assert len(cycling_alarms(events)) == 1
    # A window without refusals ends it; the next slowdown is a new one, with its own alarm.
    clock.advance(seconds=window_of(authorizer) + 1)
    for n in range(10):
        attempt(authorizer, clock, card=f"3333000000{n:04d}", reader=readers[n % 2])
    assert len(cycling_alarms(events)) == 2


def window_of(authorizer) -> int:
    return authorizer._settings.reader_failure_window_seconds


def test_throttle_forgets_failures_outside_its_window(door, clock):
    authorizer, _, _ = door
    for n in range(9):
        attempt(authorizer, clock, card=f"1111000000{n:04d}")
    clock.advance(seconds=121)
    attempt(authorizer, clock, card="11110000009999")
    assert attempt(authorizer, clock).granted


def test_garbage_card_is_unknown_not_an_error(door, clock):
    authorizer, events, _ = door
    assert attempt(authorizer, clock, card="not-a-card").reason is Reason.UNKNOWN_CARD
    assert events.query()[0].card_hint is None


def test_mode_is_recorded_and_respected(door, clock):
    authorizer, events, _ = door
    assert attempt(authorizer, clock, mode=DoorMode.CLOSURE).reason is Reason.BRANCH_CLOSED
    assert "mode=closure" in events.query()[0].detail


def test_a_restart_does_not_lift_a_reader_slowdown(door, runtime, clock):
    authorizer, events, members = door
    for n in range(10):
        attempt(authorizer, clock, card=f"1111222233{n:04d}", reader="rfid")
    assert attempt(authorizer, clock, reader="rfid").reason is Reason.READER_SLOWED
    with closing(runtime.connection()) as conn:
        restarted = Authorizer(
            runtime.members(conn), runtime.events(conn), runtime.hasher, runtime.settings.access, "entrance"
        )
        assert restarted.resume_throttle(clock()) == 10
        assert attempt(restarted, clock, reader="rfid").reason is Reason.READER_SLOWED
        assert attempt(restarted, clock, reader="keypad-scanner").reason is Reason.READER_SLOWED
        clock.advance(seconds=runtime.settings.access.reader_slowdown_seconds)
        assert attempt(restarted, clock, card="11112222339999").reason is Reason.UNKNOWN_CARD
        assert len(cycling_alarms(events)) == 1  # the slowdown goes on: no second alarm
        clock.advance(seconds=runtime.settings.access.reader_failure_window_seconds + 1)
        later = Authorizer(
            runtime.members(conn), runtime.events(conn), runtime.hasher, runtime.settings.access, "entrance"
        )
        assert later.resume_throttle(clock()) == 0
