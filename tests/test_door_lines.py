"""The door's lights and alarm lines as two of the building outputs (issue 16): driven by the
outputs runner's per-mode table with offsets, the old [hardware.lights] / [hardware.alarm] keys
still read (or refused by name when they clash), and the closing round's rule kept on the
alarm output: never armed while the count says someone is inside, unless a staff card
confirms; a restart in the middle of an offset window puts each line right at once."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config.outputs import door_lines
from controller.config.settings import AccessSettings, ConfigError, DoorSettings, parse_settings
from controller.domain.events import EventType
from controller.domain.modes import DoorMode
from controller.door.loop import DoorLoop
from controller.door.machine import Door
from controller.door.outputs_runner import OutputsRunner
from controller.door.ports import DoorOutputs, ModeChanged
from controller.door.timers import ClockTimers
from controller.services.access import Authorizer
from tests.test_building_outputs import local, schedule
from tests.test_door import Bench
from tests.test_occupancy import COUNTER, STAFF_CARD, counting_bench, enter, events_of, opening, walk

LIGHTS_PIN, ALARM_PIN = 12, 16  # free on test_door's bench
# Staffed 09-17, Open+ 17-22 local. Lights on in Open+ from 10 minutes before it starts; the
# alarm armed in the closed modes from 5 minutes after Open+ ends (the last ones walk out).
LINES = [
    {
        "name": "hall",
        "pin": LIGHTS_PIN,
        "role": "lights",
        "on_in": ["openplus"],
        "offsets": {"openplus_start": -10},
    },
    {
        "name": "alarm",
        "pin": ALARM_PIN,
        "role": "alarm",
        "on_in": ["closed", "closure"],
        "offsets": {"openplus_end": 5},
    },
]


def runner_at(clock, factory, outputs: list[dict[str, Any]] = LINES, hardware: dict | None = None):
    settings = parse_settings({"outputs": outputs, "hardware": hardware or {}}, "test")
    timers = ClockTimers(clock)
    runner = OutputsRunner.from_settings(
        door_lines(settings.outputs, settings.hardware), schedule(), clock, timers, factory
    )
    runner.start()
    return runner, timers


def lines_bench(runtime, clock, factory) -> tuple[Bench, OutputsRunner, ClockTimers]:
    """test_occupancy's counting bench (the people counter, staff allowed in when closed, a
    10-minute closing round) with the outputs runner's lights and alarm lines as the door's; in
    Open+ (21:30 local, the clock fixture)."""
    runner, timers = runner_at(clock, factory)
    bench = counting_bench(
        runtime, clock, factory, lines=(runner.door_line("lights"), runner.door_line("alarm"))
    )
    return bench, runner, timers


@pytest.fixture
def lines(runtime, clock, mock_factory):
    bench, runner, timers = lines_bench(runtime, clock, mock_factory)
    yield bench, runner, timers
    runner.stop()
    bench.close()


def at(bench: Bench, timers: ClockTimers, moment) -> None:
    """Time passes to `moment`: the runner's switches due by then, then the door's deadlines."""
    bench.after((moment - bench.clock()).total_seconds())
    timers.run_due()


def armed(bench: Bench) -> bool:
    return bench.pin(ALARM_PIN) == 1


def lit(bench: Bench) -> bool:
    return bench.pin(LIGHTS_PIN) == 1


# --- the per-mode table drives both lines ---------------------------------------------------------
def test_with_nobody_inside_the_alarm_arms_at_its_offset_and_the_lights_go_off(lines) -> None:
    bench, runner, timers = lines
    assert lit(bench) and not armed(bench)  # Open+: lights on, alarm off
    at(bench, timers, local("2026-11-25 22:00"))
    bench.send(ModeChanged(DoorMode.CLOSED, "schedule"))
    assert not lit(bench) and not armed(bench)  # closed, but the alarm waits 5 minutes
    at(bench, timers, local("2026-11-25 22:04"))
    assert not armed(bench)
    at(bench, timers, local("2026-11-25 22:05"))
    assert armed(bench)
    assert [(s.name, s.on) for s in runner.statuses()] == [("hall", False), ("alarm", True)]


# --- the closing round on the alarm output --------------------------------------------------------
def close_with_one_inside(bench: Bench, timers: ClockTimers) -> None:
    enter(bench)
    opening(bench, "in")
    at(bench, timers, local("2026-11-25 22:00"))
    bench.send(ModeChanged(DoorMode.CLOSED, "schedule"))


def test_the_alarm_output_is_never_armed_while_someone_is_inside(lines) -> None:
    bench, runner, timers = lines
    close_with_one_inside(bench, timers)
    assert lit(bench)  # the closing round keeps the lights on, whatever the table says
    at(bench, timers, local("2026-11-25 22:05"))  # the table arms it now
    assert not armed(bench)
    runner.set_manual("alarm", "on", "web:anna")  # a manager's switch cannot either
    assert not armed(bench)
    at(bench, timers, local("2026-11-25 22:15"))
    assert not armed(bench) and len(events_of(bench, EventType.OCCUPIED_AT_CLOSING)) == 1
    walk(bench, "out")  # the last one leaves: armed, lights off
    assert armed(bench) and not lit(bench)


def test_a_staff_card_confirms_the_building_empty_and_the_alarm_output_arms(lines) -> None:
    bench, runner, timers = lines
    close_with_one_inside(bench, timers)
    at(bench, timers, local("2026-11-25 22:06"))
    assert not armed(bench)
    enter(bench, STAFF_CARD)
    assert armed(bench) and not lit(bench)
    assert len(events_of(bench, EventType.BUILDING_EMPTY_CONFIRMED)) == 1


def test_someone_inside_before_an_early_arming_holds_it_off(runtime, clock, mock_factory) -> None:
    """An alarm armed 5 minutes before Open+ ends is held off while anyone is in by the count."""
    early = [{**LINES[1], "offsets": {"openplus_end": -5}}]
    bench = Bench(runtime, clock, mock_factory)
    runner, timers = runner_at(clock, mock_factory, early)
    relay, signals = bench.devices[:2]
    bench.door = Door(
        Authorizer(runtime.members(bench.conn), bench.events, runtime.hasher, AccessSettings(), "entrance"),
        DoorOutputs(relay, signals, bench.messages.append, None, runner.door_line("alarm")),
        bench.events,
        DoorSettings(),
        clock,
        "entrance",
        monotonic=clock.monotonic,
        counter=COUNTER,
    )
    bench.loop = DoorLoop(bench.door, clock.monotonic)
    try:
        bench.send(ModeChanged(DoorMode.OPENPLUS, "test"))
        walk(bench, "in")
        at(bench, timers, local("2026-11-25 21:55"))
        assert not armed(bench)
        walk(bench, "out")
        assert armed(bench)
    finally:
        runner.stop()
        bench.close()


# --- restarts in an offset window ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("restart", "lights", "alarm"),
    [
        ("2026-11-25 16:55", True, False),  # inside the lights' 10 minutes before Open+
        ("2026-11-25 22:02", False, False),  # inside the alarm's 5 minutes after Open+
        ("2026-11-25 22:05", False, True),
        ("2026-11-26 08:00", False, True),  # the night: armed
    ],
)
def test_a_restart_puts_each_line_right_at_once(mock_factory, restart, lights, alarm) -> None:
    from tests.conftest import FakeClock

    clock = FakeClock(local(restart))
    runner, _timers = runner_at(clock, mock_factory)
    try:
        assert (mock_factory.pin(LIGHTS_PIN).state, mock_factory.pin(ALARM_PIN).state) == (lights, alarm)
    finally:
        runner.stop()


def test_a_restart_mid_window_then_the_switch_comes_on_time(mock_factory) -> None:
    from tests.conftest import FakeClock

    clock = FakeClock(local("2026-11-25 22:02"))
    runner, timers = runner_at(clock, mock_factory)
    try:
        clock.now = local("2026-11-25 22:05")
        timers.run_due()
        assert mock_factory.pin(ALARM_PIN).state == 1
    finally:
        runner.stop()


# --- the old [hardware] keys ------------------------------------------------------------------------
def test_the_old_hardware_keys_become_the_outputs_lights_and_alarm(clock, mock_factory) -> None:
    runner, timers = runner_at(
        clock, mock_factory, [], {"lights": {"pin": LIGHTS_PIN}, "alarm": {"pin": ALARM_PIN}}
    )
    try:
        assert runner.names == ["lights", "alarm"]
        assert runner.door_line("lights") is not None and runner.door_line("alarm") is not None
        assert mock_factory.pin(ALARM_PIN).state == 0  # Open+ (21:30): disarmed
        clock.now = local("2026-11-25 22:00")
        timers.run_due()
        assert mock_factory.pin(ALARM_PIN).state == 1 and mock_factory.pin(LIGHTS_PIN).state == 0
    finally:
        runner.stop()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"hardware": {"alarm": {"pin": 16}}, "outputs": [{"name": "a2", "pin": 12, "role": "alarm"}]},
            "hardware.alarm and output 'a2' \\(role = 'alarm'\\) both drive the alarm line: remove hardware.alarm",
        ),
        (
            {"hardware": {"lights": {"pin": 16}}, "outputs": [{"name": "lights", "pin": 12}]},
            "hardware.lights becomes the output 'lights', and an output has that name",
        ),
        (
            {
                "outputs": [
                    {"name": "a", "pin": 12, "role": "alarm"},
                    {"name": "b", "pin": 16, "role": "alarm"},
                ]
            },
            "both have role = 'alarm'",
        ),
        ({"outputs": [{"name": "a", "pin": 12, "role": "siren"}]}, "outputs.0.role"),
    ],
)
def test_clashing_lines_are_refused_naming_the_key(raw, problem) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_settings(raw, "test")
