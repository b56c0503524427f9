"""ModeSwitcher driven by an injected clock; its timers are run by hand, or by their thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.domain.clock import BRANCH_TZ, utc_now
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule, load_schedule_file, parse_schedule
from controller.domain.timeline import ModeNow
from controller.door.switcher import ModeSwitcher
from controller.door.timers import ClockTimers

BEILEN = Path(__file__).resolve().parent.parent / "config" / "beilen-schedule.json"
EDGE = "mode-switcher:edge"


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BRANCH_TZ).astimezone(UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


class FakeClock:
    """A settable UTC clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """Collects every callback in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_mode(self, now: ModeNow) -> None:
        self.calls.append(("mode", now))

    def on_closing_warning(self, minutes: int) -> None:
        self.calls.append(("warning", minutes))

    def on_closing(self, now: ModeNow) -> None:
        self.calls.append(("closing", now))

    def modes(self) -> list[DoorMode]:
        return [value.mode for kind, value in self.calls if kind == "mode"]  # type: ignore[union-attr]


@pytest.fixture
def scheduler() -> Iterator[ClockTimers]:
    """Never started: timers stay pending where pending() can see them and nothing runs them."""
    yield ClockTimers(clock=utc_now)


def planned(scheduler: ClockTimers) -> dict[str, datetime]:
    return scheduler.pending()


def fire(scheduler: ClockTimers, clock: FakeClock, job_id: str) -> None:
    """Do what the timer thread does at run_at: set the clock there, drop the timer, run it."""
    job = scheduler.get(job_id)
    assert job is not None, f"{job_id} not scheduled; have {planned(scheduler)}"
    clock.now = job.run_at
    scheduler.remove(job_id)
    job.run()


def make_switcher(
    schedule: Schedule,
    clock: FakeClock,
    scheduler: ClockTimers,
    recorder: Recorder,
    warnings: tuple[int, ...] = (15, 5),
) -> ModeSwitcher:
    return ModeSwitcher(
        schedule,
        recorder.on_mode,
        clock=clock,
        timers=scheduler,
        closing_warning_minutes=warnings,
        on_closing_warning=recorder.on_closing_warning,
        on_closing=recorder.on_closing,
    )


def test_restart_mid_window_announces_the_mode_at_once(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 12, 0)), Recorder()  # Wednesday, staffed 10-17
    switcher = make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder)
    now = switcher.start()
    assert recorder.calls == [("mode", now)]
    assert (now.mode, now.since, now.until) == (
        DoorMode.STAFFED,
        local(2026, 6, 3, 10, 0),
        local(2026, 6, 3, 17, 0),
    )
    assert planned(scheduler) == {EDGE: local(2026, 6, 3, 17, 0)}
    assert planned(scheduler)[EDGE].utcoffset() == timedelta(0)
    assert not scheduler.running


def test_a_day_of_edges_with_closing_warnings(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 16, 0)), Recorder()
    make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder).start()

    fire(scheduler, clock, EDGE)  # 17:00 staffed -> Open+ until 22:00
    assert recorder.modes() == [DoorMode.STAFFED, DoorMode.OPENPLUS]
    assert planned(scheduler) == {
        EDGE: local(2026, 6, 3, 22, 0),
        "mode-switcher:closing-warning:15": local(2026, 6, 3, 21, 45),
        "mode-switcher:closing-warning:5": local(2026, 6, 3, 21, 55),
    }
    fire(scheduler, clock, "mode-switcher:closing-warning:15")
    fire(scheduler, clock, "mode-switcher:closing-warning:5")
    fire(scheduler, clock, EDGE)  # 22:00 Open+ -> closed; next edge after midnight
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["mode", "mode", "warning", "warning", "mode", "closing"]
    assert [value for kind, value in recorder.calls if kind == "warning"] == [15, 5]
    closing = recorder.calls[-1][1]
    assert isinstance(closing, ModeNow) and closing.mode is DoorMode.CLOSED
    assert closing.since == local(2026, 6, 3, 22, 0)
    assert planned(scheduler) == {EDGE: local(2026, 6, 4, 7, 0)}


def test_handover_from_openplus_to_staff_is_not_a_closing(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 9, 0)), Recorder()  # Open+ until staffed 10:00
    make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder).start()
    assert planned(scheduler) == {EDGE: local(2026, 6, 3, 10, 0)}
    fire(scheduler, clock, EDGE)
    assert recorder.modes() == [DoorMode.OPENPLUS, DoorMode.STAFFED]
    assert all(kind == "mode" for kind, _ in recorder.calls)


def test_restart_shortly_before_closing_keeps_only_future_warnings(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 21, 52)), Recorder()
    make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder).start()
    assert planned(scheduler) == {
        EDGE: local(2026, 6, 3, 22, 0),
        "mode-switcher:closing-warning:5": local(2026, 6, 3, 21, 55),
    }


def test_replace_schedule_recomputes_and_replans(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 20, 0)), Recorder()
    switcher = make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder)
    switcher.start()
    stale_edge = scheduler.get(EDGE)
    assert stale_edge.run_at == local(2026, 6, 3, 22, 0)

    announced_closure = parse_schedule(
        {"exceptions": [{"date": "2026-06-03", "kind": "closure", "note": "Stroomstoring"}]}
    )
    now = switcher.replace_schedule(announced_closure)
    assert (now.mode, str(now.cause)) == (DoorMode.CLOSURE, "closure: Stroomstoring")
    assert [kind for kind, _ in recorder.calls] == ["mode", "mode", "closing"]
    assert planned(scheduler) == {EDGE: local(2026, 6, 4, 0, 0)}

    stale_edge.run()  # an old job that raced the edit does nothing
    assert len(recorder.calls) == 3
    assert switcher.current == now


def test_a_job_firing_early_still_computes_at_the_edge(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 6, 0)), Recorder()
    make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder).start()
    job = scheduler.get(EDGE)
    clock.now = job.run_at - timedelta(milliseconds=5)
    scheduler.remove(EDGE)
    job.run()
    assert recorder.modes() == [DoorMode.CLOSED, DoorMode.OPENPLUS]


def test_failing_callback_does_not_stop_the_next_edge(scheduler: ClockTimers) -> None:
    seen: list[ModeNow] = []

    def flaky(now: ModeNow) -> None:
        seen.append(now)
        raise RuntimeError("door busy")

    clock = FakeClock(local(2026, 6, 3, 12, 0))
    ModeSwitcher(load_schedule_file(BEILEN), flaky, clock=clock, timers=scheduler).start()
    fire(scheduler, clock, EDGE)
    assert [now.mode for now in seen] == [DoorMode.STAFFED, DoorMode.OPENPLUS]
    assert planned(scheduler) == {EDGE: local(2026, 6, 3, 22, 0)}


def test_edge_across_the_october_change_is_in_utc(scheduler: ClockTimers) -> None:
    schedule = parse_schedule(
        {
            "exceptions": [
                {
                    "date": "2026-10-25",
                    "kind": "special_hours",
                    "windows": [{"start": "01:00", "end": "04:00", "kind": "openplus"}],
                }
            ]
        }
    )
    clock, recorder = FakeClock(utc(2026, 10, 25, 0, 30)), Recorder()  # 02:30 CEST
    make_switcher(schedule, clock, scheduler, recorder, warnings=(30,)).start()
    assert recorder.modes() == [DoorMode.OPENPLUS]
    assert planned(scheduler) == {
        EDGE: utc(2026, 10, 25, 3, 0),  # 04:00 CET
        "mode-switcher:closing-warning:30": utc(2026, 10, 25, 2, 30),
    }
    clock.now = utc(2026, 10, 25, 1, 30)  # 02:30 CET, the second pass: still the same window
    fire(scheduler, clock, "mode-switcher:closing-warning:30")
    fire(scheduler, clock, EDGE)
    assert recorder.modes() == [DoorMode.OPENPLUS, DoorMode.CLOSED]


def test_empty_schedule_rechecks_daily(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(utc(2026, 6, 3, 12, 0)), Recorder()
    make_switcher(Schedule(), clock, scheduler, recorder).start()
    assert planned(scheduler) == {"mode-switcher:recheck": utc(2026, 6, 4, 12, 0)}
    fire(scheduler, clock, "mode-switcher:recheck")
    assert recorder.modes() == [DoorMode.CLOSED, DoorMode.CLOSED]


def test_stop_cancels_jobs_on_a_shared_scheduler(scheduler: ClockTimers) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 12, 0)), Recorder()
    switcher = make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder)
    switcher.start()
    job = scheduler.get(EDGE)
    switcher.stop()
    assert scheduler.pending() == {}
    job.run()  # a job already handed to a worker before stop() does nothing
    assert len(recorder.calls) == 1


def test_warning_minutes_must_be_positive(scheduler: ClockTimers) -> None:
    with pytest.raises(ValueError, match="> 0"):
        ModeSwitcher(Schedule(), print, timers=scheduler, closing_warning_minutes=(0,))


# ---------------------------------------------------------------- the timer thread


def test_timers_run_only_what_is_due_on_their_own_clock() -> None:
    clock = FakeClock(utc(2026, 6, 3, 12, 0))
    timers, ran = ClockTimers(clock), []
    timers.add("late", utc(2026, 6, 3, 13, 0), ran.append, "late")
    timers.add("early", utc(2026, 6, 3, 12, 30), ran.append, "early")
    assert timers.run_due() == 0 and ran == []
    clock.now = utc(2026, 6, 3, 14, 0)  # a step past both: both run, earliest first
    assert timers.run_due() == 2 and ran == ["early", "late"]
    assert timers.pending() == {}


def test_a_wall_clock_step_back_delays_and_never_repeats() -> None:
    clock = FakeClock(utc(2026, 6, 3, 12, 0))
    timers, ran = ClockTimers(clock), []
    timers.add("edge", utc(2026, 6, 3, 12, 0, 1), ran.append, 1)
    clock.now = utc(2026, 6, 3, 11, 0)
    assert timers.run_due() == 0
    clock.now = utc(2026, 6, 3, 12, 0, 1)
    timers.run_due()
    clock.now = utc(2026, 6, 3, 11, 0)
    clock.now = utc(2026, 6, 3, 12, 0, 2)
    assert timers.run_due() == 0 and ran == [1]


def test_a_failing_timer_does_not_stop_the_others() -> None:
    clock = FakeClock(utc(2026, 6, 3, 12, 0))
    timers, ran = ClockTimers(clock), []
    timers.add("bad", utc(2026, 6, 3, 11, 0), lambda: 1 / 0)
    timers.add("good", utc(2026, 6, 3, 11, 30), ran.append, "good")
    assert timers.run_due() == 2 and ran == ["good"]


def test_timer_thread_follows_the_injected_clock_not_the_real_one() -> None:
    clock = FakeClock(utc(2026, 6, 3, 12, 0))  # years away from the real date either way
    timers = ClockTimers(clock, poll_seconds=0.01)
    fired = threading.Event()
    timers.add("probe", utc(2026, 6, 3, 12, 5), fired.set)
    timers.start()
    try:
        assert not fired.wait(0.1), "ran before its time on the injected clock"
        clock.now = utc(2026, 6, 3, 12, 5)
        assert fired.wait(timeout=3), "did not run once the injected clock reached it"
    finally:
        timers.stop()
    assert not timers.running


def test_own_timers_are_started_and_stopped_with_the_switcher() -> None:
    schedule = load_schedule_file(BEILEN)
    announced: list[ModeNow] = []
    clock = FakeClock(local(2026, 6, 3, 12, 0))
    switcher = ModeSwitcher(schedule, announced.append, clock=clock)
    now = switcher.start()
    try:
        assert switcher.timers.running and announced == [now]
        assert now.until is not None and switcher.timers.pending()[EDGE] == now.until
    finally:
        switcher.stop()
    assert not switcher.timers.running
