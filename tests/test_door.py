"""The door state machine on real output drivers (gpiozero mock pins) and real storage."""

from __future__ import annotations

from datetime import date

import pytest

from controller.config.settings import DoorSettings
from controller.domain.events import DoorAlarm, EventType
from controller.domain.members import NEVER
from controller.domain.messages import PROMPT_PIN
from controller.domain.modes import DoorMode
from controller.door.loop import DoorLoop
from controller.door.machine import Door
from controller.door.ports import (
    DoorContactChanged,
    DoorOutputs,
    ExitRequest,
    ModeChanged,
    Phase,
    RemoteUnlock,
)
from controller.services.access import Authorizer
from controller.services.members import MemberAdmin
from drivers.base import CardRead, KeyPress, ReaderFault
from drivers.outputs import AlarmPanel, DoorOperator, Indicator, Lights, LockRelay
from tests.helpers import member_row

RELAY, GREEN, RED, BUZZER, LIGHTS, ALARM, OPERATOR = 17, 5, 6, 13, 19, 26, 20
CARD = "29990000000001"


class Bench:
    """A door wired to mock pins, with helpers to act like a member at the entrance."""

    def __init__(
        self,
        runtime,
        clock,
        factory,
        settings: DoorSettings | None = None,
        *,
        operator: bool = False,
        more_rows=(),
    ):
        """`operator`: with a door operator on pin OPERATOR; `more_rows`: (line, MemberRow)
        pairs added to the five members every bench has."""
        self.conn = runtime.connection()
        self.clock, self.factory = clock, factory
        MemberAdmin(runtime.members(self.conn), runtime.events(self.conn), clock, "e").replace_list(
            [
                (1, member_row(1)),
                (2, member_row(2, entry_blocked=True)),
                (3, member_row(3, valid_until=date(2026, 1, 1))),
                (4, member_row(4, openplus_registered_on=None)),
                (5, member_row(5, adult_on=NEVER)),
                *more_rows,
            ],
            "test",
        )
        self.events = runtime.events(self.conn)
        self.messages = []
        self.devices = [
            LockRelay(RELAY, pin_factory=factory),
            Indicator(GREEN, RED, BUZZER, pin_factory=factory),
            Lights(LIGHTS, pin_factory=factory),
            AlarmPanel(ALARM, initial_armed=True, pin_factory=factory),
        ]
        relay, signals, lights, alarm = self.devices
        door_operator = DoorOperator(OPERATOR, pin_factory=factory) if operator else None
        if door_operator is not None:
            self.devices.append(door_operator)
        self.door = Door(
            Authorizer(
                runtime.members(self.conn), self.events, runtime.hasher, runtime.settings.access, "entrance"
            ),
            DoorOutputs(relay, signals, self.messages.append, lights, alarm, operator=door_operator),
            self.events,
            settings or DoorSettings(),
            clock,
            "entrance",
            monotonic=clock.monotonic,
        )
        self.loop = DoorLoop(self.door, clock.monotonic)

    def send(self, *items):
        for item in items:
            self.loop.submit(item)
        self.loop.drain()

    def card(self, card=CARD):
        self.send(CardRead(card, "rfid"))

    def keys(self, text):
        self.send(*(KeyPress(k, "keypad") for k in text))

    def after(self, seconds):
        self.clock.advance(seconds=seconds)
        self.loop.run_once(wait=0)

    @property
    def relay_on(self) -> bool:
        return self.factory.pin(RELAY).state == 1

    def pin(self, number) -> int:
        return self.factory.pin(number).state

    def types(self):
        return [e.type for e in reversed(self.events.query(limit=100))]

    def close(self):
        for device in self.devices:
            device.close()
        self.conn.close()


@pytest.fixture
def bench(runtime, clock, mock_factory):
    bench = Bench(runtime, clock, mock_factory)
    bench.send(ModeChanged(DoorMode.OPENPLUS, "test"))
    yield bench
    bench.close()


def test_relay_is_locked_from_the_start(bench):
    assert not bench.relay_on and bench.door.phase is Phase.IDLE


def test_grant_pulses_the_relay_lights_and_green(bench):
    bench.card()
    assert bench.door.phase is Phase.AWAITING_PIN and str(bench.messages[-1]).startswith("Toets")
    bench.keys("1234#")
    assert bench.relay_on and bench.messages[-1].nl == "Welkom"
    assert bench.pin(LIGHTS) == 1 and bench.pin(GREEN) == 1 and bench.pin(ALARM) == 0
    bench.after(4.9)
    assert bench.relay_on
    bench.after(0.1)
    assert not bench.relay_on and bench.door.phase is Phase.IDLE
    assert EventType.ACCESS_GRANTED in bench.types()


def test_pulse_ends_early_when_the_door_opens_and_closes(bench):
    bench.card()
    bench.keys("1234#")
    bench.send(DoorContactChanged(True))
    assert bench.relay_on
    bench.clock.advance(seconds=2)
    bench.send(DoorContactChanged(False))
    assert not bench.relay_on
    assert bench.types()[-2:] == [EventType.DOOR_OPENED, EventType.DOOR_CLOSED]


def test_star_clears_and_wrong_pin_lets_the_member_retry(bench):
    bench.card()
    bench.keys("99*")
    bench.keys("0000#")
    assert not bench.relay_on and bench.messages[-1].nl.startswith("Pincode onjuist")
    assert bench.door.phase is Phase.AWAITING_PIN and bench.pin(RED) == 1
    bench.keys("1234#")
    assert bench.relay_on


@pytest.mark.parametrize(
    ("mode", "card", "keys", "reason", "message"),
    [
        (DoorMode.OPENPLUS, "11112222333344", "1234#", "unknown_card", "Pas onbekend"),
        (DoorMode.OPENPLUS, "29990000000002", "1234#", "blocked", "Geen toegang"),
        (DoorMode.OPENPLUS, "29990000000003", "1234#", "expired", "Pas verlopen"),
        (DoorMode.OPENPLUS, "29990000000004", "1234#", "not_registered", "Pas niet aangemeld"),
        (DoorMode.OPENPLUS, "29990000000005", "1234#", "under_18", "Alleen voor 18"),
        (DoorMode.OPENPLUS, CARD, "0000#", "wrong_pin", "Pincode onjuist"),
        (DoorMode.CLOSED, CARD, "", "outside_hours", "Nu geen Open+ tijd"),
        (DoorMode.CLOSURE, CARD, "", "branch_closed", "Bibliotheek vandaag gesloten"),
    ],
)
def test_refusals_keep_the_door_locked(bench, mode, card, keys, reason, message):
    bench.send(ModeChanged(mode))
    bench.card(card)
    bench.keys(keys)
    assert not bench.relay_on and bench.messages[-1].nl.startswith(message)
    refused = bench.events.query(limit=1)[0]
    assert refused.type is EventType.ACCESS_REFUSED and refused.reason == reason


def test_closed_mode_arms_the_alarm_and_turns_lights_off(bench):
    bench.card()
    bench.keys("1234#")
    bench.send(ModeChanged(DoorMode.CLOSED, "end of Open+"))
    assert bench.pin(ALARM) == 1 and bench.pin(LIGHTS) == 0
    assert bench.relay_on  # a pulse already running is not cut short by the mode change
    bench.after(5)
    assert not bench.relay_on


def test_wrong_pins_lock_the_card_at_the_door(bench):
    bench.card()
    for _ in range(5):
        bench.keys("0000#")
    assert bench.messages[-1].nl.startswith("Te vaak foute pincode")
    assert bench.events.query(limit=1)[0].reason == "card_locked"
    bench.card()
    bench.keys("1234#")  # the right PIN, but locked: still refused
    assert not bench.relay_on and bench.events.query(limit=1)[0].reason == "card_locked"


def test_many_refusals_slow_the_reader_down(bench):
    for n in range(10):
        bench.card(f"1111222233{n:04d}")
        bench.keys("1234#")
    bench.card()
    bench.keys("1234#")
    assert not bench.relay_on and bench.messages[-1].nl.startswith("Even wachten")
    assert bench.events.query(limit=1)[0].reason == "reader_slowed"


def test_pin_timeout_returns_to_idle(bench):
    bench.card()
    bench.keys("12")
    bench.after(9.9)
    assert bench.door.phase is Phase.AWAITING_PIN
    bench.after(0.1)
    assert bench.door.phase is Phase.IDLE and bench.messages[-1].nl.startswith("Tijd verstreken")
    bench.keys("34#")  # the rest of the PIN, too late, opens nothing
    assert not bench.relay_on


def test_forced_door_raises_an_alarm(bench):
    bench.send(DoorContactChanged(True))
    assert bench.types()[-1] is EventType.DOOR_FORCED
    assert bench.door.snapshot().alarm is DoorAlarm.FORCED and not bench.relay_on


def test_held_open_raises_an_alarm_once(bench):
    bench.card()
    bench.keys("1234#")
    bench.send(DoorContactChanged(True))
    bench.after(29)
    assert EventType.DOOR_HELD_OPEN not in bench.types()
    bench.after(1)
    bench.after(60)
    assert bench.types().count(EventType.DOOR_HELD_OPEN) == 1
    assert bench.door.snapshot().alarm is DoorAlarm.HELD_OPEN
    bench.send(DoorContactChanged(False))
    assert bench.door.snapshot().alarm is None


def test_rex_needs_no_card_and_is_not_forced(bench):
    bench.send(ExitRequest())
    assert bench.relay_on
    bench.send(DoorContactChanged(True), DoorContactChanged(False))
    assert EventType.DOOR_FORCED not in bench.types()
    assert bench.types()[-3:] == [EventType.EXIT_REQUEST, EventType.DOOR_OPENED, EventType.DOOR_CLOSED]


def test_rex_without_relay_still_suppresses_forced(runtime, clock, mock_factory):
    bench = Bench(runtime, clock, mock_factory, DoorSettings(rex_unlocks=False))
    try:
        bench.send(ModeChanged(DoorMode.CLOSED), ExitRequest())
        assert not bench.relay_on
        bench.clock.advance(seconds=3)
        bench.send(DoorContactChanged(True))
        assert EventType.DOOR_FORCED not in bench.types()
        bench.send(DoorContactChanged(False))
        bench.clock.advance(seconds=11)
        bench.send(DoorContactChanged(True))
        assert bench.types()[-1] is EventType.DOOR_FORCED
    finally:
        bench.close()


def test_staffed_mode_holds_the_door_free(bench):
    bench.send(ModeChanged(DoorMode.STAFFED))
    assert bench.relay_on and bench.pin(ALARM) == 0
    bench.send(DoorContactChanged(True))
    bench.after(600)
    assert EventType.DOOR_FORCED not in bench.types()
    assert EventType.DOOR_HELD_OPEN not in bench.types()
    bench.send(DoorContactChanged(False), ModeChanged(DoorMode.OPENPLUS))
    assert not bench.relay_on


def test_a_free_door_standing_open_leaves_the_loop_nothing_due(bench):
    """A door held free in staffed hours may stand open all day: its held-open limit must not
    stay due in the past (the loop would spin, waiting 0 s each turn, on a real-time thread),
    and it counts again once the door is no longer free."""
    bench.send(ModeChanged(DoorMode.STAFFED), DoorContactChanged(True))
    bench.after(600)
    deadline = bench.door.next_deadline()
    assert deadline is None or deadline > bench.clock.monotonic()
    bench.send(ModeChanged(DoorMode.OPENPLUS))
    assert bench.types()[-1] is EventType.DOOR_HELD_OPEN


def test_staffed_mode_with_card_and_pin_when_not_held_free(runtime, clock, mock_factory):
    bench = Bench(runtime, clock, mock_factory, DoorSettings(staffed_door_free=False))
    try:
        bench.send(ModeChanged(DoorMode.STAFFED))
        assert not bench.relay_on
        bench.card()
        bench.keys("1234#")
        assert bench.relay_on and bench.pin(LIGHTS) == 0  # lights are staff's business then
    finally:
        bench.close()


def test_remote_unlock_is_audited(bench):
    bench.send(RemoteUnlock("api:security1"))
    assert bench.relay_on
    event = bench.events.query(limit=1)[0]
    assert event.type is EventType.REMOTE_UNLOCK and event.actor == "api:security1"


def test_reader_fault_is_an_event(bench):
    bench.send(ReaderFault("rfid", "disconnected", "port vanished"))
    event = bench.events.query(limit=1)[0]
    assert event.type is EventType.READER_FAULT and event.reason == "disconnected"


def test_an_exception_in_the_loop_leaves_the_relay_locked(bench, monkeypatch):
    bench.card()
    bench.keys("1234#")
    assert bench.relay_on

    def explode(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(bench.door._auth, "begin", explode)
    bench.card()
    bench.keys("1234#")
    assert not bench.relay_on and bench.door.phase is Phase.IDLE
    event = bench.events.query(limit=1)[0]
    assert event.type is EventType.SERVICE and event.reason == "fail_secure"
    assert bench.messages[-1].nl.startswith("Storing")


def test_stopping_the_loop_locks(bench):
    bench.send(ExitRequest())
    assert bench.relay_on
    bench.loop.stop()
    assert not bench.relay_on


def test_keys_without_a_card_are_ignored(bench):
    bench.keys("1234#")
    assert not bench.relay_on and bench.messages[-1].nl.startswith("Houd uw pas")
    assert not [t for t in bench.types() if t in (EventType.ACCESS_GRANTED, EventType.ACCESS_REFUSED)]


def test_closing_warning_is_announced_and_logged(bench):
    from controller.door.ports import ClosingWarning

    bench.send(ClosingWarning(5))
    assert bench.messages[-1].nl == "De bibliotheek sluit over 5 minuten"
    event = bench.events.query(limit=1)[0]
    assert event.type is EventType.CLOSING_WARNING and event.reason == "5 min"


def test_door_already_open_at_start_is_not_forced(runtime, clock, mock_factory):
    bench = Bench(runtime, clock, mock_factory)
    try:
        bench.door.assume_contact(True)
        bench.send(DoorContactChanged(True))
        assert EventType.DOOR_FORCED not in bench.types()
        bench.send(DoorContactChanged(False))
        assert bench.types()[-1] is EventType.DOOR_CLOSED
    finally:
        bench.close()


# --- one clock: deadlines are monotonic, a wall-clock step moves none of them -------------------
STEPS = [pytest.param(-1, id="clock-set-back-1h"), pytest.param(+1, id="clock-set-ahead-1h")]


@pytest.mark.parametrize("hours", STEPS)
def test_a_wall_clock_step_during_a_pulse_keeps_its_length(bench, hours):
    bench.card()
    bench.keys("1234#")
    assert bench.relay_on
    bench.after(1)
    bench.clock.step(hours=hours)  # NTP, `date -s` or a spoofed answer, one second in
    bench.after(3.9)
    assert bench.relay_on, "a step ahead must not cut the pulse short"
    bench.after(0.1)
    assert not bench.relay_on, "a step back must not stretch the pulse"
    assert bench.factory.pin(RELAY).states[-2:][0].state == 1  # one on, then off


@pytest.mark.parametrize("hours", STEPS)
def test_a_wall_clock_step_during_pin_entry_keeps_the_pin_timeout(bench, hours):
    bench.card()
    bench.keys("12")
    bench.clock.step(hours=hours)
    bench.after(9.9)
    assert bench.door.phase is Phase.AWAITING_PIN
    bench.after(0.1)
    assert bench.door.phase is Phase.IDLE and bench.messages[-1].en.startswith("Time is up")


@pytest.mark.parametrize("hours", STEPS)
def test_a_wall_clock_step_with_the_door_open_keeps_the_held_open_limit(bench, hours):
    bench.card()
    bench.keys("1234#")
    bench.send(DoorContactChanged(True))
    bench.clock.step(hours=hours)
    bench.after(29.9)
    assert EventType.DOOR_HELD_OPEN not in bench.types()
    bench.after(0.1)
    assert bench.types().count(EventType.DOOR_HELD_OPEN) == 1


def test_events_keep_wall_time_across_a_step(bench):
    bench.clock.step(hours=-1)
    bench.send(ExitRequest())
    rex = [e for e in bench.events.query(limit=10) if e.type is EventType.EXIT_REQUEST][0]
    assert rex.at == bench.clock()


def test_a_deadline_that_raises_never_ends_the_loop(bench, monkeypatch):
    """`held_open_seconds = inf` used to raise in next_deadline(), outside the loop's try."""
    calls = []

    def broken():
        calls.append(1)
        raise OverflowError("date value out of range")

    monkeypatch.setattr(bench.door, "next_deadline", broken)
    bench.loop.submit(DoorContactChanged(False))  # already shut: a no-op, so get() is instant
    bench.loop.run_once()  # works out its wait: raises, is logged, the loop turns anyway
    assert calls and bench.loop.turn_age() == 0
    bench.card()
    bench.keys("1234#")
    assert bench.relay_on


def test_an_unbounded_held_open_limit_cannot_stop_the_door(runtime, clock, mock_factory):
    endless = DoorSettings.model_construct(
        **{**DoorSettings().model_dump(), "held_open_seconds": float("inf")}
    )
    bench = Bench(runtime, clock, mock_factory, endless)
    try:
        bench.send(ModeChanged(DoorMode.OPENPLUS, "test"))
        bench.card()
        bench.keys("1234#")
        bench.send(DoorContactChanged(True))
        bench.loop.submit(DoorContactChanged(True))  # a no-op input, so get() is instant
        bench.loop.run_once()  # works out its wait from an infinite held-open deadline
        bench.after(1e6)
        bench.send(DoorContactChanged(False))
        bench.card()
        bench.keys("1234#")
        assert bench.relay_on and bench.types().count(EventType.ACCESS_GRANTED) == 2
    finally:
        bench.close()


def test_the_door_thread_asks_for_real_time_priority_and_runs_without_it(bench, caplog) -> None:
    """Round-robin real-time for the door thread alone where allowed (root, or the unit's
    LimitRTPRIO); where refused, one warning naming LimitRTPRIO and the door runs as before."""
    import os
    import resource

    rig = bench
    rig.loop = DoorLoop(rig.door, rig.clock.monotonic, realtime_priority=3)
    allowed_by_limit = resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= 3
    with caplog.at_level("WARNING", logger="controller.door.loop"):
        rig.loop.start()
        try:
            assert rig.loop.wait_idle(5)
            rig.loop.submit(CardRead(CARD, "rfid"))
            assert rig.loop.wait_idle(5)
            thread_id = rig.loop._thread.native_id
            policy = os.sched_getscheduler(thread_id)
        finally:
            rig.loop.stop()
    assert rig.messages and rig.messages[-1] == PROMPT_PIN  # it ran either way
    assert os.sched_getscheduler(0) != os.SCHED_RR  # the caller's thread kept its own
    if rig.loop.realtime:
        assert policy == os.SCHED_RR and caplog.records == []
    else:
        assert not allowed_by_limit and policy != os.SCHED_RR
        assert "LimitRTPRIO=3" in caplog.text
