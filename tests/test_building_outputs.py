"""Building outputs per mode (issue 16): the planner on the schedule across the DST nights of
2026, manual switches and their end, the runner on mock pins and a FakeClock through the
timers' run_due (a restart in an offset window is right at once; a manual switch survives a
restart until its end), and the config's errors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from controller.config.settings import ConfigError, parse_settings
from controller.domain.clock import BRANCH_TZ
from controller.domain.modes import DoorMode
from controller.domain.outputs import (
    Edge,
    ManualState,
    OutputRules,
    OutputStatus,
    Source,
    UnknownOutput,
    manual_until,
    next_switch,
    plan_output,
    planned_state,
)
from controller.domain.schedule import WEEKDAYS, Schedule, parse_schedule
from controller.door.manual_outputs import MANUAL_FILE, ManualStore
from controller.door.outputs_runner import TIMER_PREFIX, OutputsRunner
from controller.door.timers import ClockTimers
from tests.conftest import FakeClock

STAFFED = {"start": "09:00", "end": "17:00", "kind": "staffed"}
EVENING = {"start": "17:00", "end": "22:00", "kind": "openplus"}
# PCs on while anyone may be in, off 15 minutes before Open+ ends (members save their work);
# the extra lights on 10 minutes before Open+ starts.
PCS = OutputRules(frozenset({DoorMode.STAFFED, DoorMode.OPENPLUS}), {(DoorMode.OPENPLUS, Edge.END): -15})
LIGHTS = OutputRules(frozenset({DoorMode.OPENPLUS}), {(DoorMode.OPENPLUS, Edge.START): -10})


def local(text: str) -> datetime:
    """'2026-03-29 03:45' on the branch's wall clock (first pass in October's hour), as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=BRANCH_TZ).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(night_of: dict[str, Any] | None = None) -> Schedule:
    """Staffed 09-17 and Open+ 17-22 every day; `night_of` adds Open+ 01:00-04:00 on one date."""
    exceptions = []
    if night_of is not None:
        exceptions = [
            {
                "date": night_of["date"],
                "kind": "special_hours",
                "windows": [night_of["window"], STAFFED, EVENING],
            }
        ]
    return parse_schedule({"weekly": {day: [STAFFED, EVENING] for day in WEEKDAYS}, "exceptions": exceptions})


def switches(sched: Schedule, rules: OutputRules, start: datetime, count: int) -> list[tuple[datetime, bool]]:
    """The next `count` switches from `start`, each checked against planned_state either side."""
    found: list[tuple[datetime, bool]] = []
    moment = start
    for _ in range(count):
        switch = next_switch(sched, rules, moment)
        assert switch is not None
        assert planned_state(sched, rules, switch.at) is switch.on
        assert planned_state(sched, rules, switch.at - timedelta(seconds=1)) is not switch.on
        found.append((switch.at, switch.on))
        moment = switch.at
    return found


# --- the planner across the DST nights -------------------------------------------------------------
def test_offsets_keep_their_wall_clock_time_across_the_march_change() -> None:
    """Saturday 28 March is CET (UTC+1), Sunday 29 March CEST (UTC+2): the same local times,
    an hour apart in UTC."""
    sched = schedule()
    assert switches(sched, LIGHTS, local("2026-03-28 12:00"), 4) == [
        (utc("2026-03-28 15:50"), True),
        (utc("2026-03-28 21:00"), False),
        (utc("2026-03-29 14:50"), True),
        (utc("2026-03-29 20:00"), False),
    ]
    assert switches(sched, PCS, local("2026-03-28 12:00"), 4) == [
        (utc("2026-03-28 20:45"), False),
        (utc("2026-03-29 07:00"), True),
        (utc("2026-03-29 19:45"), False),
        (utc("2026-03-30 07:00"), True),
    ]


def test_an_open_plus_night_through_the_march_change_is_two_real_hours() -> None:
    """Open+ 01:00 CET - 04:00 CEST on 29 March: lights on 10 real minutes before it starts,
    PCs off 15 real minutes before it ends (03:45 CEST), though the clock skipped 02:00-03:00."""
    sched = schedule({"date": "2026-03-29", "window": {"start": "01:00", "end": "04:00", "kind": "openplus"}})
    start = local("2026-03-28 23:00")
    assert switches(sched, LIGHTS, start, 2) == [
        (utc("2026-03-28 23:50"), True),
        (utc("2026-03-29 02:00"), False),
    ]
    assert switches(sched, PCS, start, 2) == [
        (utc("2026-03-29 00:00"), True),
        (utc("2026-03-29 01:45"), False),
    ]
    assert local("2026-03-29 03:45") == utc("2026-03-29 01:45")


def test_an_open_plus_night_through_the_october_change_is_four_real_hours() -> None:
    """Open+ 01:00 CEST - 04:00 CET on 25 October (the clock goes 03:00 -> 02:00 once)."""
    sched = schedule({"date": "2026-10-25", "window": {"start": "01:00", "end": "04:00", "kind": "openplus"}})
    start = local("2026-10-24 23:00")
    assert switches(sched, LIGHTS, start, 2) == [
        (utc("2026-10-24 22:50"), True),
        (utc("2026-10-25 03:00"), False),
    ]
    assert switches(sched, PCS, start, 2) == [
        (utc("2026-10-24 23:00"), True),
        (utc("2026-10-25 02:45"), False),
    ]


def test_a_switch_inside_octobers_repeated_hour_is_on_its_first_pass() -> None:
    """Open+ ending at 02:30 on 25 October ends on the first pass (CEST, 00:30 UTC); the PCs
    go off 15 minutes before, at 02:15 CEST, not an hour later on the second pass."""
    sched = schedule({"date": "2026-10-25", "window": {"start": "00:00", "end": "02:30", "kind": "openplus"}})
    switch = next_switch(sched, PCS, utc("2026-10-24 22:30"))
    assert switch is not None and (switch.at, switch.on) == (utc("2026-10-25 00:15"), False)


def test_a_change_that_leaves_the_state_alone_is_no_switch() -> None:
    """Staffed -> Open+ at 17:00 keeps PCs on in both: their next switch is 21:45."""
    switch = next_switch(schedule(), PCS, local("2026-06-01 16:59"))
    assert switch is not None and switch.at == local("2026-06-01 21:45")


def test_overlapping_offsets_end_as_the_later_change_asks() -> None:
    """Open+ 20:00-20:10 with PCs off 15 minutes before its end: the off comes before the on,
    so the PCs stay off through the short stretch (the later change wins)."""
    sched = parse_schedule(
        {"weekly": {day: [{"start": "20:00", "end": "20:10", "kind": "openplus"}] for day in WEEKDAYS}}
    )
    rules = OutputRules(frozenset({DoorMode.OPENPLUS}), {(DoorMode.OPENPLUS, Edge.END): -15})
    for moment in ("2026-06-01 19:50", "2026-06-01 20:00", "2026-06-01 20:05", "2026-06-01 20:11"):
        assert planned_state(sched, rules, local(moment)) is False


def test_an_output_on_in_every_mode_never_switches() -> None:
    always = OutputRules(frozenset(DoorMode))
    assert planned_state(schedule(), always, local("2026-06-01 03:00")) is True
    assert next_switch(schedule(), always, local("2026-06-01 03:00")) is None


# --- a manual switch and its end -----------------------------------------------------------------
def test_a_manual_switch_holds_until_the_next_planned_switch() -> None:
    sched = schedule()
    made = local("2026-06-01 12:00")
    until = manual_until(sched, LIGHTS, made)
    assert until == local("2026-06-01 16:50")
    manual = ManualState(on=True, since=made, until=until, actor="web:anna")
    during = plan_output(sched, LIGHTS, local("2026-06-01 14:00"), manual)
    assert (during.on, during.source, during.planned_on) == (True, Source.MANUAL, False)
    assert (during.next_at, during.next_on) == (until, True)
    after = plan_output(sched, LIGHTS, local("2026-06-01 16:50"), manual)
    assert (after.on, after.source, after.next_at) == (True, Source.SCHEDULE, local("2026-06-01 22:00"))


def test_a_manual_off_in_open_plus_ends_when_the_schedule_switches_next() -> None:
    sched = schedule()
    made = local("2026-06-01 18:00")
    manual = ManualState(on=False, since=made, until=manual_until(sched, LIGHTS, made), actor="api:bo")
    assert plan_output(sched, LIGHTS, local("2026-06-01 21:59"), manual).on is False
    later = plan_output(sched, LIGHTS, local("2026-06-01 22:00"), manual)
    assert (later.on, later.source, later.next_at) == (False, Source.SCHEDULE, local("2026-06-02 16:50"))


# --- the runner on mock pins and the clock's timers ----------------------------------------------
class Branch:
    """Two outputs on mock pins, a FakeClock and timers nobody starts: the test calls run_due.
    With `data_dir` the manual switches are kept there: a new Branch over it is a restart."""

    def __init__(self, start: datetime, sched: Schedule | None = None, data_dir: Path | None = None) -> None:
        self.clock = FakeClock(start)
        self.factory = MockFactory()
        self.timers = ClockTimers(self.clock)
        settings = parse_settings(
            {
                "outputs": [
                    {
                        "name": "pcs",
                        "pin": 20,
                        "on_in": ["staffed", "openplus"],
                        "offsets": {"openplus_end": -15},
                    },
                    {
                        "name": "lights",
                        "pin": "GPIO21",
                        "active_high": False,
                        "on_in": ["openplus"],
                        "offsets": {"openplus_start": -10},
                    },
                ]
            },
            "test",
        )
        self.runner = OutputsRunner.from_settings(
            settings.outputs,
            sched or schedule(),
            clock=self.clock,
            timers=self.timers,
            pin_factory=self.factory,
            store=ManualStore(data_dir / MANUAL_FILE) if data_dir is not None else None,
        )

    def pin(self, number: int) -> Any:
        return self.factory.pin(number)

    def states(self) -> dict[str, bool]:
        """Each output as its pin says it (GPIO21 is active-low)."""
        return {"pcs": bool(self.pin(20).state), "lights": not self.pin(21).state}

    def at(self, moment: datetime) -> dict[str, bool]:
        self.clock.now = moment
        self.timers.run_due()
        return self.states()


def test_a_restart_inside_the_lights_offset_window_starts_them_on_without_a_blink() -> None:
    branch = Branch(local("2026-03-29 16:55"))  # Open+ starts at 17:00, lights due since 16:50
    assert branch.states() == {"pcs": True, "lights": True}
    branch.runner.start()
    assert branch.states() == {"pcs": True, "lights": True}
    # Each pin's history: the mock's idle level (low), then the output's level once, never back.
    assert [bool(state) for _, state in branch.pin(20).states] == [False, True]
    assert [bool(state) for _, state in branch.pin(21).states] == [False]  # active-low: low = on


def test_a_restart_inside_the_pcs_offset_window_starts_them_off() -> None:
    branch = Branch(local("2026-03-29 21:50"))  # Open+ until 22:00, PCs off since 21:45
    branch.runner.start()
    assert branch.states() == {"pcs": False, "lights": True}
    assert branch.timers.pending()[TIMER_PREFIX + "lights"] == local("2026-03-29 22:00")


def test_the_runner_switches_each_output_at_its_time_across_the_march_night() -> None:
    branch = Branch(local("2026-03-28 12:00"))
    branch.runner.start()
    steps = [
        ("2026-03-28 16:49:59", True, False),
        ("2026-03-28 16:50", True, True),
        ("2026-03-28 21:44:59", True, True),
        ("2026-03-28 21:45", False, True),
        ("2026-03-28 22:00", False, False),
        ("2026-03-29 08:59", False, False),
        ("2026-03-29 09:00", True, False),
        ("2026-03-29 16:50", True, True),
        ("2026-03-29 21:45", False, True),
        ("2026-03-29 22:00", False, False),
    ]
    for moment, pcs, lights in steps:
        assert branch.at(local(moment)) == {"pcs": pcs, "lights": lights}, moment
    assert branch.at(utc("2026-03-29 20:00")) == {"pcs": False, "lights": False}


def test_a_wall_clock_step_past_a_switch_sets_the_state_the_schedule_has_now() -> None:
    branch = Branch(local("2026-10-24 12:00"))
    branch.runner.start()
    assert branch.at(local("2026-10-25 21:50")) == {"pcs": False, "lights": True}


def test_a_manual_switch_holds_until_the_next_planned_switch_then_the_schedule_leads() -> None:
    branch = Branch(local("2026-06-01 12:00"))
    branch.runner.start()
    status = branch.runner.set_manual("lights", "on", "web:anna")
    assert (status.on, status.source, status.manual_by) == (True, Source.MANUAL, "web:anna")
    assert status.next_at == local("2026-06-01 16:50")
    assert branch.at(local("2026-06-01 16:49")) == {"pcs": True, "lights": True}
    assert branch.at(local("2026-06-01 16:50"))["lights"] is True
    assert branch.runner.statuses()[1].source is Source.SCHEDULE
    branch.runner.set_manual("pcs", "off", "web:anna")  # off until the planned off at 21:45
    assert branch.at(local("2026-06-01 21:44"))["pcs"] is False
    assert branch.at(local("2026-06-02 09:00"))["pcs"] is True  # the next planned on


def test_auto_hands_the_output_back_to_the_schedule_at_once() -> None:
    branch = Branch(local("2026-06-01 12:00"))
    branch.runner.start()
    branch.runner.set_manual("pcs", "off", "api:bo")
    assert branch.states()["pcs"] is False
    status = branch.runner.set_manual("pcs", "auto", "api:bo")
    assert branch.states()["pcs"] is True and status.source is Source.SCHEDULE
    with pytest.raises(UnknownOutput, match="no output named 'heating'"):
        branch.runner.set_manual("heating", "on", "api:bo")


def test_a_schedule_change_puts_every_output_right_at_once() -> None:
    branch = Branch(local("2026-06-01 12:00"))
    branch.runner.start()
    assert branch.states() == {"pcs": True, "lights": False}
    evening_only = parse_schedule(
        {"weekly": {day: [{"start": "11:55", "end": "22:00", "kind": "openplus"}] for day in WEEKDAYS}}
    )
    branch.runner.replace_schedule(evening_only)
    assert branch.states() == {"pcs": True, "lights": True}
    assert branch.timers.pending()[TIMER_PREFIX + "pcs"] == local("2026-06-01 21:45")


def test_a_stale_timer_from_before_a_schedule_change_does_nothing() -> None:
    branch = Branch(local("2026-06-01 12:00"))
    branch.runner.start()
    branch.runner.run_switch("lights", 0, local("2026-06-01 12:00"))  # generation long gone
    assert branch.states() == {"pcs": True, "lights": False}


def test_stop_cancels_the_timers_and_releases_the_pins() -> None:
    branch = Branch(local("2026-06-01 12:00"))
    branch.runner.start()
    branch.runner.stop()
    assert not [name for name in branch.timers.pending() if name.startswith(TIMER_PREFIX)]


def test_an_output_status_survives_the_wire() -> None:
    status = OutputStatus("pcs", True, Source.MANUAL, False, utc("2026-06-01 15:00"), False, "web:anna")
    assert OutputStatus.from_json(status.to_json()) == status
    with pytest.raises(ValueError):
        OutputStatus.from_json({**status.to_json(), "next_at": "2026-06-01T15:00:00"})


# --- the config ------------------------------------------------------------------------------------
# --- a manual switch across a restart of the door process ----------------------------------------
def test_a_manual_switch_survives_a_restart_without_a_blink_and_ends_at_its_planned_switch(tmp_path) -> None:
    before = Branch(local("2026-06-01 22:00"), data_dir=tmp_path)  # PCs off since 21:45
    before.runner.start()
    before.runner.set_manual("pcs", "on", "web:anna")  # on until the planned on at 09:00
    assert before.states()["pcs"] is True
    after = Branch(local("2026-06-01 23:30"), data_dir=tmp_path)  # the door restarted
    assert [bool(state) for _, state in after.pin(20).states] == [False, True]  # idle, then on
    status = after.runner.start()[0]
    assert (status.on, status.source, status.manual_by) == (True, Source.MANUAL, "web:anna")
    assert after.timers.pending()[TIMER_PREFIX + "pcs"] == local("2026-06-02 09:00")
    assert after.at(local("2026-06-02 08:59"))["pcs"] is True
    assert after.at(local("2026-06-02 09:00"))["pcs"] is True
    assert after.runner.statuses()[0].source is Source.SCHEDULE  # the manual state has ended
    assert after.at(local("2026-06-02 21:45"))["pcs"] is False  # the schedule's off, not held on
    assert [bool(state) for _, state in after.pin(20).states] == [False, True, False]
    assert json.loads((tmp_path / MANUAL_FILE).read_text())["manual"] == {}  # a later restart: none


def test_a_restored_switch_ends_at_the_next_switch_of_the_schedule_in_force(tmp_path) -> None:
    """The schedule was edited while the door was down (staffed from 10:00 now): the restored
    switch ends at the new schedule's next switch, as a live one does on a schedule change."""
    before = Branch(local("2026-06-01 22:00"), data_dir=tmp_path)
    before.runner.start()
    before.runner.set_manual("pcs", "on", "web:anna")  # until 09:00 under the old schedule
    later_start = {"start": "10:00", "end": "17:00", "kind": "staffed"}
    edited = parse_schedule({"weekly": {day: [later_start, EVENING] for day in WEEKDAYS}})
    after = Branch(local("2026-06-01 23:30"), sched=edited, data_dir=tmp_path)
    status = after.runner.start()[0]
    assert (status.on, status.source, status.next_at) == (True, Source.MANUAL, local("2026-06-02 10:00"))
    assert after.at(local("2026-06-02 09:30"))["pcs"] is True  # held past the old end
    assert after.at(local("2026-06-02 10:00"))["pcs"] is True
    assert after.runner.statuses()[0].source is Source.SCHEDULE


def test_a_restored_switch_ends_at_a_switch_the_edited_schedule_had_while_the_door_was_down(tmp_path) -> None:
    """Open+ 01:00-04:00 added while the door was down: the PCs' planned on at 01:00 came after
    the manual on of 22:00 and ended it, so the 05:00 restart does not bring it back."""
    before = Branch(local("2026-06-01 22:00"), data_dir=tmp_path)
    before.runner.start()
    before.runner.set_manual("pcs", "on", "web:anna")  # until 09:00 under the old schedule
    night = {"date": "2026-06-02", "window": {"start": "01:00", "end": "04:00", "kind": "openplus"}}
    after = Branch(local("2026-06-02 05:00"), sched=schedule(night_of=night), data_dir=tmp_path)
    assert [bool(state) for _, state in after.pin(20).states] == [False]  # never on
    assert after.runner.start()[0].source is Source.SCHEDULE


def test_a_manual_switch_that_ended_while_the_door_was_down_is_not_restored(tmp_path, caplog) -> None:
    before = Branch(local("2026-06-01 22:00"), data_dir=tmp_path)
    before.runner.start()
    before.runner.set_manual("pcs", "on", "web:anna")  # until 09:00 on 2 June
    caplog.set_level(logging.INFO)
    after = Branch(local("2026-06-02 22:00"), data_dir=tmp_path)  # a day later: planned off
    assert [bool(state) for _, state in after.pin(20).states] == [False]  # never on
    assert after.runner.start()[0].source is Source.SCHEDULE
    assert after.states()["pcs"] is False
    assert "output pcs: manual on by web:anna not restored" in caplog.text
    assert json.loads((tmp_path / MANUAL_FILE).read_text())["manual"] == {}


def test_auto_before_a_restart_leaves_nothing_to_restore(tmp_path) -> None:
    before = Branch(local("2026-06-01 12:00"), data_dir=tmp_path)
    before.runner.start()
    before.runner.set_manual("pcs", "off", "api:bo")
    assert "pcs" in json.loads((tmp_path / MANUAL_FILE).read_text())["manual"]
    before.runner.set_manual("pcs", "auto", "api:bo")
    after = Branch(local("2026-06-01 12:30"), data_dir=tmp_path)
    assert after.runner.start()[0].source is Source.SCHEDULE
    assert after.states()["pcs"] is True


def test_a_corrupt_file_starts_clean_with_one_log_line_and_the_door_runs(tmp_path, caplog) -> None:
    (tmp_path / MANUAL_FILE).write_text('{"version": 1, "manual": {"pcs": {"on": tr', encoding="utf-8")
    caplog.set_level(logging.INFO)
    branch = Branch(local("2026-06-01 12:00"), data_dir=tmp_path)
    branch.runner.start()
    assert branch.states() == {"pcs": True, "lights": False}
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and str(tmp_path / MANUAL_FILE) in problems[0] and "corrupt" in problems[0]
    branch.runner.set_manual("lights", "on", "web:anna")  # switches still work, and are kept
    assert json.loads((tmp_path / MANUAL_FILE).read_text())["manual"]["lights"]["on"] is True


def test_a_kept_switch_of_an_output_no_longer_configured_is_dropped_with_a_log_line(tmp_path, caplog) -> None:
    until = local("2026-06-01 20:00").isoformat()
    entry = {"on": True, "since": local("2026-06-01 11:00").isoformat(), "until": until, "actor": "web:anna"}
    kept = {"version": 1, "manual": {"heating": entry, "lights": entry}}
    (tmp_path / MANUAL_FILE).write_text(json.dumps(kept), encoding="utf-8")
    branch = Branch(local("2026-06-01 12:00"), data_dir=tmp_path)
    branch.runner.start()
    assert branch.states() == {"pcs": True, "lights": True}  # the lights' switch still holds
    assert "output heating: manual on by web:anna not restored: no such output" in caplog.text
    assert set(json.loads((tmp_path / MANUAL_FILE).read_text())["manual"]) == {"lights"}


def outputs_error(*outputs: dict[str, Any], **extra: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"outputs": list(outputs), **extra}, "branch.toml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            {"name": "pcs", "pin": 20, "on_in": ["opnplus"]},
            "outputs.0.on_in: unknown mode 'opnplus': the modes are staffed, openplus, closed, closure",
        ),
        ({"name": "pcs", "pin": 20, "offsets": {"opnplus_end": -15}}, "unknown mode 'opnplus'"),
        (
            {"name": "pcs", "pin": 20, "offsets": {"openplus_middle": 5}},
            "offset 'openplus_middle': name it <mode>_start or <mode>_end",
        ),
        (
            {"name": "pcs", "pin": 20, "offsets": {"openplus_end": -241}},
            "offset openplus_end = -241: at most 240 minutes either way",
        ),
        ({"name": "pcs", "pin": 54}, "outputs.0.pin: a pin is a BCM number 0-53"),
        ({"name": "PCs!", "pin": 20}, "outputs.0.name"),
        (
            {
                "name": "pcs",
                "pin": 20,
                "on_in": ["openplus"],
                "offsets": {"openplus_end": 5, "closed_start": 0},
            },
            "offsets openplus_end and closed_start both move the switch when openplus gives way to closed",
        ),
    ],
)
def test_a_bad_output_is_refused_by_name(output: dict[str, Any], expected: str) -> None:
    assert expected in outputs_error(output)


def test_duplicate_names_and_pins_are_refused() -> None:
    assert "two outputs are named 'pcs'" in outputs_error(
        {"name": "pcs", "pin": 20}, {"name": "pcs", "pin": 21}
    )
    assert "output 'b': pin GPIO20 is taken by output 'pcs'" in outputs_error(
        {"name": "pcs", "pin": 20}, {"name": "b", "pin": "GPIO20"}
    )


def test_a_pin_of_the_door_hardware_is_refused() -> None:
    assert "pin 17 is taken by hardware.lock.pin" in outputs_error({"name": "pcs", "pin": 17})
    assert "pin 23 is taken by hardware.readers[1].d0_pin" in outputs_error({"name": "pcs", "pin": 23})
    assert "taken by hardware.lights.pin" in outputs_error(
        {"name": "pcs", "pin": 26}, hardware={"lights": {"pin": 26}}
    )


def test_outputs_are_optional_and_the_lights_and_alarm_lines_stay_in_hardware() -> None:
    settings = parse_settings({"hardware": {"lights": {"pin": 26}, "alarm": {"pin": 16}}}, "branch.toml")
    assert settings.outputs == [] and settings.hardware.lights is not None


# --- wired into the door process -------------------------------------------------------------------
def test_the_branch_sets_its_outputs_at_start_and_on_a_schedule_change(tmp_path, monkeypatch) -> None:
    """BranchService builds the runner on its pin factory and timers: started at 21:50 the PCs
    are already off (their offset window) and the lights on; a saved schedule applies at once."""
    from controller.door.branch import BranchService
    from controller.sim.hardware import SimulatedHardware

    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    settings = parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "outputs": [
                {
                    "name": "pcs",
                    "pin": 25,
                    "on_in": ["staffed", "openplus"],
                    "offsets": {"openplus_end": -15},
                },
                {"name": "extra-lights", "pin": 9, "on_in": ["openplus"], "offsets": {"openplus_start": -10}},
            ],
        },
        "test",
    )
    # Pins the simulator leaves free (it puts its own devices on 20, 16, 12, 19, 26, 7 and 8).
    clock = FakeClock(local("2026-03-29 21:50"))
    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(
        sim.settings, schedule(), pin_factory=sim.factory, clock=clock, monotonic=clock.monotonic
    )
    sim.at_rest()
    service.start()
    try:
        assert (sim.factory.pin(25).state, sim.factory.pin(9).state) == (False, True)
        service.schedule_changed(Schedule())  # closed every day from now on
        # pcs, extra-lights, and the simulator's lights and alarm lines ([hardware]): armed now
        assert [(s.name, s.on) for s in service.outputs.statuses()] == [
            ("pcs", False),
            ("extra-lights", False),
            ("lights", False),
            ("alarm", True),
        ]
    finally:
        service.stop()
        sim.close()
