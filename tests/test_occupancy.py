"""Occupancy, tailgating and the safe closing round (issue 16), on the door machine with mock
pins and a FakeClock; the wired branch and the simulator's console with the beam counter."""

from __future__ import annotations

from contextlib import closing

import pytest

from controller.config.counter import CounterSettings
from controller.config.settings import AccessSettings, ConfigError, DoorSettings, parse_settings
from controller.domain.catalog import render
from controller.domain.events import EventType
from controller.domain.modes import DoorMode
from controller.door.link import snapshot_from_json, snapshot_to_json
from controller.door.loop import DoorLoop
from controller.door.machine import Door
from controller.door.occupancy import CLOSING_ROUND
from controller.door.ports import Alarm, DoorContactChanged, DoorOutputs, ModeChanged, RemoteUnlock, Switch
from controller.services.access import Authorizer
from controller.services.footage_plan import CLIP_EVENTS
from controller.sim.console import Console
from drivers.beams import PersonCrossed
from tests.conftest import NO_PAUSE
from tests.helpers import member_row
from tests.test_door import ALARM, CARD, LIGHTS, Bench

STAFF_CARD = "29990000000009"
COUNTER = CounterSettings(a_pin=7, b_pin=8, settle_seconds=2.0)
ROUND_MINUTES = 10


def counting_bench(
    runtime,
    clock,
    factory,
    counter: CounterSettings | None = COUNTER,
    lines: tuple[Switch | None, Alarm | None] | None = None,
) -> Bench:
    """test_door's Bench, its door rebuilt with the people counter (or none) and staff allowed
    in when closed (member 9 is staff), in Open+; `lines`: the door's lights and alarm in place of
    the bench's own (test_door_lines gives the outputs runner's)."""
    bench = Bench(runtime, clock, factory, more_rows=[(9, member_row(9, category="staff"))])
    relay, signals, lights, alarm = bench.devices[:4]
    if lines is not None:
        lights, alarm = lines
    bench.door = Door(
        Authorizer(
            runtime.members(bench.conn),
            bench.events,
            runtime.hasher,
            AccessSettings(staff_allowed_when_closed=True),
            "entrance",
        ),
        DoorOutputs(relay, signals, bench.messages.append, lights, alarm),
        bench.events,
        DoorSettings(closing_round_minutes=ROUND_MINUTES),
        clock,
        "entrance",
        monotonic=clock.monotonic,
        counter=counter,
    )
    bench.loop = DoorLoop(bench.door, clock.monotonic)
    bench.send(ModeChanged(DoorMode.OPENPLUS, "test"))
    return bench


@pytest.fixture
def bench(runtime, clock, mock_factory):
    bench = counting_bench(runtime, clock, mock_factory)
    yield bench
    bench.close()


def walk(bench: Bench, *directions: str) -> None:
    bench.send(*(PersonCrossed(d, bench.clock()) for d in directions))  # type: ignore[arg-type]


def enter(bench: Bench, card: str = CARD) -> None:
    bench.card(card)
    bench.keys("1234#")


def opening(bench: Bench, *people: str) -> None:
    """The door opens, people cross, it shuts, and the settle time passes."""
    bench.send(DoorContactChanged(True))
    walk(bench, *people)
    bench.send(DoorContactChanged(False))
    bench.after(COUNTER.settle_seconds)


def events_of(bench: Bench, kind: EventType):
    return [e for e in bench.events.query(limit=200) if e.type is kind]


# --- occupancy ---------------------------------------------------------------------------
def test_in_minus_out_never_below_zero_and_in_the_snapshot(bench) -> None:
    walk(bench, "in", "in", "out")
    assert bench.door.snapshot().occupancy == 1
    walk(bench, "out", "out")
    assert bench.door.snapshot().occupancy == 0


def test_the_count_restarts_at_each_change_into_openplus(bench) -> None:
    bench.send(ModeChanged(DoorMode.STAFFED, "test"))
    walk(bench, "in", "in", "in")  # a busy staffed afternoon
    assert bench.door.snapshot().occupancy == 3
    bench.send(ModeChanged(DoorMode.OPENPLUS, "test"))
    assert bench.door.snapshot().occupancy == 0


def test_without_a_counter_occupancy_is_none_and_closing_arms_at_once(runtime, clock, mock_factory) -> None:
    bench = counting_bench(runtime, clock, mock_factory, counter=None)
    try:
        walk(bench, "in")  # nothing counts them
        assert bench.door.snapshot().occupancy is None
        bench.send(ModeChanged(DoorMode.CLOSED, "test"))
        assert bench.pin(ALARM) == 1 and bench.pin(LIGHTS) == 0
    finally:
        bench.close()


# --- tailgating ---------------------------------------------------------------------------
def test_two_in_on_one_grant_is_one_tailgating_event_with_a_clip(bench) -> None:
    enter(bench)
    bench.send(DoorContactChanged(True))
    walk(bench, "in")
    bench.clock.advance(seconds=1)
    second_at = bench.clock()
    walk(bench, "in")
    bench.send(DoorContactChanged(False))
    assert events_of(bench, EventType.TAILGATING) == []  # the last crossing may still come
    bench.after(COUNTER.settle_seconds)
    [tailgating] = events_of(bench, EventType.TAILGATING)
    assert tailgating.at == second_at and tailgating.detail == "2 in on 1 grant(s)"
    assert EventType.TAILGATING in CLIP_EVENTS
    bench.after(60)
    assert len(events_of(bench, EventType.TAILGATING)) == 1  # one event per opening
    assert bench.door.snapshot().occupancy == 2


def test_one_in_per_grant_is_no_event(bench) -> None:
    enter(bench)
    opening(bench, "in")
    enter(bench, "29990000000002")  # the second member is blocked: refused, no grant
    assert events_of(bench, EventType.TAILGATING) == events_of(bench, EventType.GRANT_UNUSED) == []


def test_a_crossing_just_after_the_door_shut_counts_to_its_opening(bench) -> None:
    enter(bench)
    bench.send(DoorContactChanged(True))
    walk(bench, "in")
    bench.send(DoorContactChanged(False))
    bench.after(1.0)
    walk(bench, "in")  # the beam's last edge, a moment after the door shut
    bench.after(1.0)
    assert len(events_of(bench, EventType.TAILGATING)) == 1


def test_a_grant_nobody_used_is_counted(bench) -> None:
    enter(bench)
    bench.after(DoorSettings().unlock_seconds)  # never opened: the pulse ends
    bench.after(COUNTER.settle_seconds)
    [unused] = events_of(bench, EventType.GRANT_UNUSED)
    assert unused.detail == "0 in on 1 grant(s)"
    assert events_of(bench, EventType.TAILGATING) == []


def test_someone_slipping_in_while_another_goes_out_is_tailgating(bench) -> None:
    bench.send(RemoteUnlock("api:anna"))  # staff let one in: a grant
    opening(bench, "in", "in")
    assert len(events_of(bench, EventType.TAILGATING)) == 1


def test_outside_openplus_nothing_is_judged(bench) -> None:
    bench.send(ModeChanged(DoorMode.STAFFED, "test"))
    opening(bench, "in", "in", "in")
    assert events_of(bench, EventType.TAILGATING) == []


# --- the closing round --------------------------------------------------------------------
def close_with_one_inside(bench: Bench) -> None:
    enter(bench)
    opening(bench, "in")
    bench.send(ModeChanged(DoorMode.CLOSED, "test"))


def test_closing_with_one_inside_announces_alerts_and_does_not_arm(bench) -> None:
    close_with_one_inside(bench)
    assert bench.messages[-1] == CLOSING_ROUND
    assert bench.pin(ALARM) == 0 and bench.pin(LIGHTS) == 1  # not armed; not left in the dark
    bench.after(ROUND_MINUTES * 60 - 1)
    assert events_of(bench, EventType.OCCUPIED_AT_CLOSING) == []
    bench.after(1)
    [alert] = events_of(bench, EventType.OCCUPIED_AT_CLOSING)
    assert alert.reason is None and alert.detail.startswith("1 inside")
    assert bench.pin(ALARM) == 0 and bench.messages[-1] == CLOSING_ROUND
    bench.after(3600)
    assert bench.pin(ALARM) == 0 and len(events_of(bench, EventType.OCCUPIED_AT_CLOSING)) == 1
    bench.send(ModeChanged(DoorMode.CLOSURE, "test"))  # another closed mode: still not armed
    assert bench.pin(ALARM) == 0


def test_the_alarm_arms_once_the_last_one_walks_out(bench) -> None:
    close_with_one_inside(bench)
    bench.after(ROUND_MINUTES * 60)
    walk(bench, "out")
    assert bench.pin(ALARM) == 1 and bench.pin(LIGHTS) == 0
    reasons = [e.reason for e in events_of(bench, EventType.OCCUPIED_AT_CLOSING)]
    assert reasons == ["recovered", None]  # newest first: over, after the alert


def test_leaving_within_the_round_arms_without_an_alert(bench) -> None:
    close_with_one_inside(bench)
    bench.after(60)
    walk(bench, "out")
    assert bench.pin(ALARM) == 1
    bench.after(ROUND_MINUTES * 60)
    assert events_of(bench, EventType.OCCUPIED_AT_CLOSING) == []


def test_a_staff_card_confirms_the_building_empty_and_arms(bench) -> None:
    close_with_one_inside(bench)
    bench.card("29990000000001")  # a member: refused while closed, confirms nothing
    bench.keys("1234#")
    assert bench.pin(ALARM) == 0
    enter(bench, STAFF_CARD)
    assert bench.pin(ALARM) == 1 and bench.pin(LIGHTS) == 0
    [confirmed] = events_of(bench, EventType.BUILDING_EMPTY_CONFIRMED)
    assert confirmed.card_hint == "…0009" and STAFF_CARD not in (confirmed.detail or "")
    assert bench.door.snapshot().occupancy == 0


def test_closing_with_nobody_inside_arms_at_once(bench) -> None:
    enter(bench)
    opening(bench, "in")
    walk(bench, "out")
    bench.send(ModeChanged(DoorMode.CLOSED, "test"))
    assert bench.pin(ALARM) == 1 and bench.messages[-1] != CLOSING_ROUND


def test_openplus_again_ends_the_round_disarmed(bench) -> None:
    close_with_one_inside(bench)
    bench.send(ModeChanged(DoorMode.OPENPLUS, "test"))
    bench.after(ROUND_MINUTES * 60)
    assert bench.pin(ALARM) == 0 and events_of(bench, EventType.OCCUPIED_AT_CLOSING) == []


def test_the_closing_message_is_in_both_languages() -> None:
    assert CLOSING_ROUND.nl == render("display.closing_round", "nl")
    assert CLOSING_ROUND.en.startswith("The library is closed")


# --- config and the door link ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("counter", "problem"),
    [
        ({"a_pin": 7, "b_pin": 7}, "a_pin and b_pin are both 7"),
        ({"a_pin": 7}, "hardware.counter.b_pin: required value is missing"),
        ({"a_pin": 99, "b_pin": 8}, "hardware.counter.a_pin: a pin is a BCM number"),
        ({"a_pin": 7, "b_pin": 8, "flicker_ms": -1}, "hardware.counter.flicker_ms"),
        ({"a_pin": 7, "b_pin": 8, "beams": 2}, "hardware.counter.beams: unknown key"),
    ],
)
def test_a_bad_counter_section_is_refused_by_name(counter, problem) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_settings({"hardware": {"counter": counter}}, "test")


def test_counter_and_closing_round_settings() -> None:
    settings = parse_settings(
        {"hardware": {"counter": {"a_pin": "GPIO7", "b_pin": 8}}, "door": {"closing_round_minutes": 5}},
        "test",
    )
    assert settings.hardware.counter is not None and settings.hardware.counter.a_pin == "GPIO7"
    assert settings.door.closing_round_minutes == 5 and parse_settings({}, "t").hardware.counter is None
    with pytest.raises(ConfigError, match="door.closing_round_minutes"):
        parse_settings({"door": {"closing_round_minutes": -1}}, "test")


def test_the_api_shows_occupancy(bench) -> None:
    from controller.api.routers.door import DoorStateOut

    walk(bench, "in", "in", "in")
    assert DoorStateOut.of(bench.door.snapshot()).occupancy == 3


def test_the_door_link_carries_occupancy(bench) -> None:
    walk(bench, "in", "in")
    back = snapshot_from_json(snapshot_to_json(bench.door.snapshot()))
    assert back.occupancy == 2
    older = {k: v for k, v in snapshot_to_json(bench.door.snapshot()).items() if k != "occupancy"}
    assert snapshot_from_json(older).occupancy is None
    with pytest.raises(TypeError):
        snapshot_from_json({**snapshot_to_json(bench.door.snapshot()), "occupancy": "2"})


# --- the wired branch and the simulator (tests/conftest.py: counted_branch, NO_PAUSE) ---------
def test_the_wired_branch_counts_beams_and_clips_tailgating(counted_branch, clock) -> None:
    sim, service = counted_branch
    clipped: list[EventType] = []
    service.footage.notify_event = lambda event_id, at, kind: clipped.append(kind)  # type: ignore[method-assign]
    service.loop.submit(RemoteUnlock("test"))
    sim.open_door()
    sim.walk("in", NO_PAUSE)
    sim.walk("in", NO_PAUSE)
    sim.close_door()
    assert service.loop.wait_idle(5)
    assert service.snapshot().occupancy == 2  # type: ignore[union-attr]
    clock.advance(seconds=COUNTER.settle_seconds)
    service.loop.submit(ModeChanged(DoorMode.OPENPLUS))  # a turn, to see the deadline passed
    assert service.loop.wait_idle(5) and service.writer.flush(5)
    assert EventType.TAILGATING in clipped
    assert service.hardware.counter is not None and service.hardware.counter.totals["in"] == 2


def test_the_console_walks_people_in_and_out_and_shows_them(counted_branch) -> None:
    sim, service = counted_branch
    lines: list[str] = []
    console = Console(service, sim, lines.append)
    for command in ("walk in", "walk in", "walk out", "status"):
        console.execute(command)
    assert lines[-2] == "inside: 1 (people counter)" and lines[-1].startswith("outputs: ")
    console.execute("help")
    assert any(line.lstrip().startswith("walk in") for line in lines[-1].splitlines())


def test_the_console_walks_a_member_let_in_past_the_beams(counted_branch, clock) -> None:
    """`card` + `keys` as in the demo: the member let in walks in, so the count shows them and
    the opening logs no grant_unused; a refused card walks nobody in."""
    sim, service = counted_branch
    lines: list[str] = []
    console = Console(service, sim, lines.append)
    console.execute("card 29990000000001")
    console.execute("keys 1234#")
    assert "(the member walks in past the people counter)" in lines
    assert service.snapshot().occupancy == 1  # type: ignore[union-attr]
    clock.advance(seconds=DoorSettings().unlock_seconds + COUNTER.settle_seconds)
    service.loop.submit(ModeChanged(DoorMode.OPENPLUS))  # a turn, to see the deadlines passed
    assert service.loop.wait_idle(5) and service.writer.flush(5)
    with closing(service.runtime.connection()) as conn:
        kinds = [e.type for e in service.runtime.events(conn).query(limit=50)]
    assert EventType.ACCESS_GRANTED in kinds and EventType.GRANT_UNUSED not in kinds
    assert EventType.TAILGATING not in kinds
    console.execute("card 29990000000001")
    console.execute("keys 9999#")  # a wrong PIN: refused
    assert service.snapshot().occupancy == 1  # type: ignore[union-attr]
