"""The people count kept across a door-process restart (issue 16): the wired BranchService on
mock pins writes its state file (on the observer thread), is stopped, and a new one on the same
data directory starts from it, with the schedule of tests.test_building_outputs (staffed 09-17,
Open+ 17-22 local) on the injected clock. A restart in Open+ or in the closing round keeps who
is inside, so the alarm the schedule arms stays off; a count from an earlier Open+, an old
one, or a broken state file starts at 0 and says why; the door starts either way."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from controller.config.settings import Settings, parse_settings
from controller.domain.events import EventType
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.door.branch import BranchService
from controller.door.occupancy import CLOSING_ROUND, DISCARDED, MAX_RESUME_AGE, RESTORED, resume_problem
from controller.door.ports import ModeChanged, OccupancyCount
from controller.door.state_file import STATE_FILE, SavedCount, StateFile
from controller.sim.hardware import SimulatedHardware
from drivers.beams import PersonCrossed
from tests.conftest import FakeClock
from tests.test_building_outputs import local, schedule

ROUND_MINUTES = 10
ALARM_PIN = 26  # the simulator's [hardware] alarm: an output armed in the closed modes


@pytest.fixture
def counted(settings: Settings) -> Settings:
    """The test settings with the beam counter and a 10-minute closing round."""
    raw = settings.model_dump(mode="json")
    raw["hardware"]["counter"] = {"a_pin": 7, "b_pin": 8, "flicker_ms": 0}
    raw["door"]["closing_round_minutes"] = ROUND_MINUTES
    return parse_settings(raw, "test")


class Run:
    """One run of the door process: the service, its mock pins and what the door said."""

    def __init__(self, settings: Settings, clock: FakeClock, mode: DoorMode | None) -> None:
        self.clock = clock
        self.sim = SimulatedHardware.create(settings, MockFactory())
        self.said: list[DoorMessage] = []
        self.service = BranchService(
            self.sim.settings,
            schedule(),
            pin_factory=self.sim.factory,
            clock=clock,
            monotonic=clock.monotonic,
            mode_override=mode,
            on_message=self.said.append,
        )
        self.sim.at_rest()

    def settle(self) -> None:
        service = self.service
        assert service.loop.wait_idle(5) and service.observers.wait_idle(5) and service.writer.flush(5)

    def walk(self, *directions: str) -> None:
        for direction in directions:
            self.service.loop.submit(PersonCrossed(direction, self.clock()))  # type: ignore[arg-type]
        self.settle()

    @property
    def inside(self) -> int | None:
        snapshot = self.service.snapshot()
        assert snapshot is not None
        return snapshot.occupancy

    @property
    def armed(self) -> bool:
        return bool(self.sim.factory.pin(ALARM_PIN).state)

    def events(self, reason: str) -> list:
        with closing(self.service.runtime.connection()) as conn:
            rows = self.service.runtime.events(conn).query(limit=200)
        return [e for e in rows if e.type is EventType.SERVICE and e.reason == reason]


@contextmanager
def running(settings: Settings, clock: FakeClock, mode: DoorMode | None = None) -> Iterator[Run]:
    """A door process from start to stop; `mode`: set by hand instead of the schedule."""
    run = Run(settings, clock, mode)
    run.service.start()
    try:
        run.settle()
        yield run
    finally:
        run.service.stop()
        run.sim.close()


def state_path(settings: Settings) -> Path:
    return settings.data_dir / STATE_FILE


# --- kept across a restart ----------------------------------------------------------------
def test_a_restart_in_openplus_keeps_two_inside(counted, clock) -> None:
    clock.now = local("2026-11-25 21:30")  # Open+
    with running(counted, clock) as first:
        first.walk("in", "in", "in", "out")
        assert first.inside == 2
    clock.advance(minutes=2)  # a power blip
    with running(counted, clock) as again:
        assert again.service.snapshot().mode is DoorMode.OPENPLUS  # type: ignore[union-attr]
        assert again.inside == 2
        [restored] = again.events(RESTORED)
        assert restored.detail.startswith("2 inside (3 in, 1 out since 2026-11-25 21:30")
        again.walk("out")
        assert again.inside == 1
        assert json.loads(state_path(counted).read_text())["count"]["inside"] == 1  # kept on


def test_a_restart_in_the_closing_round_keeps_the_alarm_off_and_the_round_going(counted, clock) -> None:
    clock.now = local("2026-11-25 21:50")
    with running(counted, clock) as first:
        first.walk("in")
        clock.now = local("2026-11-25 22:00")
        first.service.loop.submit(ModeChanged(DoorMode.CLOSED, "end of Open+"))  # as the schedule's edge
        first.settle()
        assert first.said[-1] == CLOSING_ROUND and not first.armed
    clock.advance(minutes=3)  # restarted within the round: the schedule says closed, armed
    with running(counted, clock) as again:
        assert again.inside == 1 and not again.armed
        assert not any(s.state for s in again.sim.factory.pin(ALARM_PIN).states)  # not for an instant
        assert again.said[-1] == CLOSING_ROUND  # said again
        [restored] = again.events(RESTORED)
        assert "the closing round goes on" in restored.detail
        clock.advance(minutes=ROUND_MINUTES)
        again.service.loop.submit(ModeChanged(DoorMode.CLOSED))  # a turn, to see the deadline
        again.settle()
        with closing(again.service.runtime.connection()) as conn:
            alerts = [
                e
                for e in again.service.runtime.events(conn).query(limit=200)
                if e.type is EventType.OCCUPIED_AT_CLOSING
            ]
        assert alerts[0].reason is None and alerts[0].detail.startswith("1 inside")
        assert not again.armed
        again.walk("out")  # the last one leaves: armed now
        assert again.armed and again.inside == 0


def test_without_the_saved_count_the_same_restart_arms_on_someone_inside(counted, clock) -> None:
    """The gap this closes: with the count lost, the restart arms at once."""
    clock.now = local("2026-11-25 21:50")
    with running(counted, clock) as first:
        first.walk("in")
        clock.now = local("2026-11-25 22:00")
        first.service.loop.submit(ModeChanged(DoorMode.CLOSED, "end of Open+"))
        first.settle()
    state_path(counted).unlink()
    clock.advance(minutes=3)
    with running(counted, clock) as again:
        assert again.inside == 0 and again.armed


def test_a_restart_at_night_with_nobody_inside_arms(counted, settings, clock) -> None:
    """The alarm line starts held off until the door has looked at the count: with nobody
    inside (or no counter at all) it arms as before."""
    clock.now = local("2026-11-25 21:30")
    with running(counted, clock) as first:
        first.walk("in", "out")
    clock.now = local("2026-11-26 02:00")
    with running(counted, clock) as again:
        assert again.inside == 0 and again.armed
    raw = settings.model_dump(mode="json")
    raw["counter"] = {"source": "none"}
    with running(parse_settings(raw, "test"), clock) as uncounted:  # no people counter
        assert uncounted.inside is None and uncounted.armed


def test_open_plus_ending_while_the_door_was_down_starts_the_round(counted, clock) -> None:
    clock.now = local("2026-11-25 21:58")
    with running(counted, clock) as first:
        first.walk("in")
    clock.now = local("2026-11-25 22:04")  # down across the end of Open+
    with running(counted, clock) as again:
        assert again.inside == 1 and not again.armed and again.said[-1] == CLOSING_ROUND


# --- discarded ----------------------------------------------------------------------------------
def test_a_count_from_before_a_staffed_to_openplus_change_is_discarded(counted, clock) -> None:
    clock.now = local("2026-11-25 21:30")
    with running(counted, clock) as first:
        first.walk("in", "in")
    clock.now = local("2026-11-26 17:30")  # down until the next Open+, after staffed hours
    with running(counted, clock) as again:
        assert again.inside == 0
        [discarded] = again.events(DISCARDED)
        assert "from before Open+ began at 2026-11-26 17:00" in discarded.detail
        assert again.events(RESTORED) == []


def test_a_count_older_than_the_bound_is_discarded(counted, clock) -> None:
    """A mode set by hand has no schedule edges: only the age bound applies."""
    with running(counted, clock, DoorMode.OPENPLUS) as first:
        first.walk("in", "in")
    clock.advance(hours=MAX_RESUME_AGE.total_seconds() / 3600, seconds=1)
    with running(counted, clock, DoorMode.OPENPLUS) as again:
        assert again.inside == 0
        [discarded] = again.events(DISCARDED)
        assert "more than 24 h ago" in discarded.detail


def test_a_count_just_inside_the_bound_is_kept(counted, clock) -> None:
    with running(counted, clock, DoorMode.OPENPLUS) as first:
        first.walk("in", "in")
    clock.advance(hours=23)
    with running(counted, clock, DoorMode.OPENPLUS) as again:
        assert again.inside == 2


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "has no readable count (JSONDecodeError"),
        (
            '{"count": {"mode": "openplus", "inside": -1}}',
            "has no readable count (ValueError: 'inside' is -1",
        ),
        ('{"count": {"mode": "party"}}', "has no readable count (ValueError: 'party' is not a valid"),
        ('{"count": {"mode": "closed", "inside": 0}}', "has no readable count (ValueError: 'in' missing)"),
        ("[]", "keeps no count"),
    ],
)
def test_a_corrupt_state_file_starts_at_0_with_a_clear_line(counted, clock, caplog, content, problem) -> None:
    state_path(counted).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_path(counted).write_text(content, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="controller.door.occupancy"):
        with running(counted, clock) as run:
            assert run.inside == 0 and run.service.loop.is_running  # started, in Open+
            assert run.service.snapshot().mode is DoorMode.OPENPLUS  # type: ignore[union-attr]
    [line] = [r.getMessage() for r in caplog.records if r.name == "controller.door.occupancy"]
    assert line.startswith("people count starts at 0: state file ") and problem in line


def test_a_missing_state_file_starts_at_0_with_a_clear_line(counted, clock, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="controller.door.occupancy"):
        with running(counted, clock) as run:
            assert run.inside == 0 and run.events(DISCARDED) == [] and run.events(RESTORED) == []
    assert any("people count starts at 0: no state file" in r.getMessage() for r in caplog.records)


def test_relay_off_marking_the_door_stopped_keeps_the_count(counted, clock) -> None:
    """relay-off rewrites the file's "at" after a stop; the count keeps its own time."""
    with running(counted, clock, DoorMode.OPENPLUS) as first:
        first.walk("in")
    state = json.loads(state_path(counted).read_text())
    StateFile(state_path(counted)).replace({**state, "phase": "stopped", "at": "2030-01-01T00:00:00+00:00"})
    saved = StateFile(state_path(counted)).saved_count()
    assert isinstance(saved, SavedCount) and saved.at == clock() and saved.count.inside == 1


# --- the rule on its own --------------------------------------------------------------------------
def saved_in(mode: DoorMode, at, inside: int = 1) -> SavedCount:
    return SavedCount(OccupancyCount(mode, inside, inside, 0, at - timedelta(hours=1)), at)


def test_the_rule_for_a_saved_count() -> None:
    at = local("2026-11-25 21:00")
    openplus = DoorMode.OPENPLUS
    assert resume_problem(saved_in(openplus, at), at + timedelta(minutes=5), openplus, []) is None
    assert resume_problem(saved_in(openplus, at), at + MAX_RESUME_AGE, openplus, []) is None
    assert "more than 24 h" in (
        resume_problem(saved_in(openplus, at), at + timedelta(hours=25), openplus, []) or ""
    )
    assert "clock was set back" in (
        resume_problem(saved_in(openplus, at), at - timedelta(minutes=1), openplus, []) or ""
    )
    began = [local("2026-11-26 17:00")]
    assert "before Open+ began" in (
        resume_problem(saved_in(openplus, at), at + timedelta(hours=20), openplus, began) or ""
    )
    assert "counted in staffed" in (resume_problem(saved_in(DoorMode.STAFFED, at), at, openplus, []) or "")
    assert resume_problem(saved_in(openplus, at), at + timedelta(hours=1), DoorMode.CLOSED, []) is None
