"""The wired service: the daily retention job and mode changes reaching the door."""

from __future__ import annotations

import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

from gpiozero.pins.mock import MockFactory

from controller.domain.clock import BRANCH_TZ
from controller.domain.events import Event, EventType
from controller.domain.schedule import parse_schedule
from controller.door.branch import BranchService
from controller.sim.hardware import SimulatedHardware


def test_events_older_than_retention_are_purged_by_the_daily_job(settings, clock):
    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(sim.settings, parse_schedule({}), pin_factory=sim.factory, clock=clock)
    try:
        service.start()
        run = service.timers.pending()["retention"].astimezone(BRANCH_TZ)
        assert (run.hour, run.minute) == (4, 15) and run > clock()
        assert run - clock() <= timedelta(days=1)
        with closing(service.runtime.connection()) as conn:
            log = service.runtime.events(conn)
            for days in (1, 89, 90.01, 365):
                log.record(Event(EventType.ACCESS_REFUSED, clock() - timedelta(days=days), "e"))
        assert service.purge_events() == 2
        with closing(service.runtime.connection()) as conn:
            ages = [
                clock() - e.at
                for e in service.runtime.events(conn).query(limit=100)
                if e.type is EventType.ACCESS_REFUSED
            ]
        assert sorted(a.days for a in ages) == [1, 89]
    finally:
        service.stop()
        sim.close()


def test_restart_in_the_middle_of_a_window_gives_the_mode_at_once(settings):
    # Wednesday 2026-11-25 20:30 local is inside 18:00-22:00 Open+.
    moment = datetime(2026, 11, 25, 19, 30, tzinfo=UTC)
    schedule = parse_schedule(
        {
            "weekly": {
                "wednesday": [
                    {"start": "07:00", "end": "18:00", "kind": "staffed"},
                    {"start": "18:00", "end": "22:00", "kind": "openplus"},
                ]
            }
        }
    )
    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(sim.settings, schedule, pin_factory=sim.factory, clock=lambda: moment)
    try:
        sim.at_rest()
        service.start()
        assert service.loop.wait_idle(5)
        assert service.snapshot().mode.value == "openplus"
        assert not sim.outputs()["relay"]
    finally:
        service.stop()
        sim.close()


def test_retention_runs_when_the_injected_clock_reaches_04_15_and_plans_the_next_day(settings, clock):
    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(sim.settings, parse_schedule({}), pin_factory=sim.factory, clock=clock)
    try:
        service.start()
        with closing(service.runtime.connection()) as conn:
            service.runtime.events(conn).record(
                Event(EventType.ACCESS_REFUSED, clock() - timedelta(days=200), "e")
            )
        first = service.timers.pending()["retention"]
        clock.now = first
        service.timers.run_due()  # or the timer thread does, whichever looks first
        replanned = threading.Event()
        for _ in range(300):  # bounded: the job re-plans itself last
            if service.timers.pending().get("retention", first) != first:
                break
            replanned.wait(0.01)
        with closing(service.runtime.connection()) as conn:
            left = service.runtime.events(conn).query(limit=100)
        assert not [e for e in left if e.type is EventType.ACCESS_REFUSED]
        assert service.timers.pending()["retention"] == first + timedelta(days=1)
    finally:
        service.stop()
        sim.close()
