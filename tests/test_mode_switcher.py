"""ModeSwitcher driven by an injected clock; the scheduler's jobs are run by hand."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from controller.clock import BRANCH_TZ, utc_now
from controller.mode_switcher import ModeSwitcher, schedule_once
from controller.modes import DoorMode
from controller.schedule import ModeNow, Schedule, load_schedule_file, parse_schedule

BEILEN = Path(__file__).resolve().parent.parent / "config" / "beilen-schedule.json"
EDGE = "mode-switcher:edge"


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BRANCH_TZ).astimezone(timezone.utc)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


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
def scheduler() -> Iterator[BackgroundScheduler]:
    """Never started: jobs stay pending where get_jobs() can see them and nothing runs them."""
    yield BackgroundScheduler(timezone=timezone.utc)


def planned(scheduler: BackgroundScheduler) -> dict[str, datetime]:
    return {job.id: job.trigger.run_date for job in scheduler.get_jobs()}


def fire(scheduler: BackgroundScheduler, clock: FakeClock, job_id: str) -> None:
    """Do what the scheduler does at run_date: set the clock there, drop the job, run it."""
    job = scheduler.get_job(job_id)
    assert job is not None, f"{job_id} not scheduled; have {planned(scheduler)}"
    clock.now = job.trigger.run_date
    scheduler.remove_job(job_id)
    job.func(*job.args)


def make_switcher(schedule: Schedule, clock: FakeClock, scheduler: BackgroundScheduler,
                  recorder: Recorder, warnings: tuple[int, ...] = (15, 5)) -> ModeSwitcher:
    return ModeSwitcher(schedule, recorder.on_mode, clock=clock, scheduler=scheduler,
                        closing_warning_minutes=warnings,
                        on_closing_warning=recorder.on_closing_warning,
                        on_closing=recorder.on_closing)


def test_restart_mid_window_announces_the_mode_at_once(scheduler: BackgroundScheduler) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 12, 0)), Recorder()  # Wednesday, staffed 10-17
    switcher = make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder)
    now = switcher.start()
    assert recorder.calls == [("mode", now)]
    assert (now.mode, now.since, now.until) == (DoorMode.STAFFED, local(2026, 6, 3, 10, 0),
                                                local(2026, 6, 3, 17, 0))
    assert planned(scheduler) == {EDGE: local(2026, 6, 3, 17, 0)}
    assert planned(scheduler)[EDGE].utcoffset() == timedelta(0)
    assert not scheduler.running


def test_a_day_of_edges_with_closing_warnings(scheduler: BackgroundScheduler) -> None:
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


def test_handover_from_openplus_to_staff_is_not_a_closing(scheduler: BackgroundScheduler) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 9, 0)), Recorder()  # Open+ until staffed 10:00
    make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder).start()
    assert planned(scheduler) == {EDGE: local(2026, 6, 3, 10, 0)}
    fire(scheduler, clock, EDGE)
    assert recorder.modes() == [DoorMode.OPENPLUS, DoorMode.STAFFED]
    assert all(kind == "mode" for kind, _ in recorder.calls)


def test_restart_shortly_before_closing_keeps_only_future_warnings(
        scheduler: BackgroundScheduler) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 21, 52)), Recorder()
    make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder).start()
    assert planned(scheduler) == {EDGE: local(2026, 6, 3, 22, 0),
                                  "mode-switcher:closing-warning:5": local(2026, 6, 3, 21, 55)}


def test_replace_schedule_recomputes_and_replans(scheduler: BackgroundScheduler) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 20, 0)), Recorder()
    switcher = make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder)
    switcher.start()
    stale_edge = scheduler.get_job(EDGE)
    assert stale_edge.trigger.run_date == local(2026, 6, 3, 22, 0)

    announced_closure = parse_schedule({"exceptions": [
        {"date": "2026-06-03", "kind": "closure", "note": "Stroomstoring"}]})
    now = switcher.replace_schedule(announced_closure)
    assert (now.mode, now.cause) == (DoorMode.CLOSURE, "closure: Stroomstoring")
    assert [kind for kind, _ in recorder.calls] == ["mode", "mode", "closing"]
    assert planned(scheduler) == {EDGE: local(2026, 6, 4, 0, 0)}

    stale_edge.func(*stale_edge.args)  # an old job that raced the edit does nothing
    assert len(recorder.calls) == 3
    assert switcher.current == now


def test_a_job_firing_early_still_computes_at_the_edge(scheduler: BackgroundScheduler) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 6, 0)), Recorder()
    make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder).start()
    job = scheduler.get_job(EDGE)
    clock.now = job.trigger.run_date - timedelta(milliseconds=5)
    scheduler.remove_job(EDGE)
    job.func(*job.args)
    assert recorder.modes() == [DoorMode.CLOSED, DoorMode.OPENPLUS]


def test_failing_callback_does_not_stop_the_next_edge(scheduler: BackgroundScheduler) -> None:
    seen: list[ModeNow] = []

    def flaky(now: ModeNow) -> None:
        seen.append(now)
        raise RuntimeError("door busy")

    clock = FakeClock(local(2026, 6, 3, 12, 0))
    ModeSwitcher(load_schedule_file(BEILEN), flaky, clock=clock, scheduler=scheduler).start()
    fire(scheduler, clock, EDGE)
    assert [now.mode for now in seen] == [DoorMode.STAFFED, DoorMode.OPENPLUS]
    assert planned(scheduler) == {EDGE: local(2026, 6, 3, 22, 0)}


def test_edge_across_the_october_change_is_in_utc(scheduler: BackgroundScheduler) -> None:
    schedule = parse_schedule({"exceptions": [{
        "date": "2026-10-25", "kind": "special_hours",
        "windows": [{"start": "01:00", "end": "04:00", "kind": "openplus"}]}]})
    clock, recorder = FakeClock(utc(2026, 10, 25, 0, 30)), Recorder()  # 02:30 CEST
    make_switcher(schedule, clock, scheduler, recorder, warnings=(30,)).start()
    assert recorder.modes() == [DoorMode.OPENPLUS]
    assert planned(scheduler) == {EDGE: utc(2026, 10, 25, 3, 0),  # 04:00 CET
                                  "mode-switcher:closing-warning:30": utc(2026, 10, 25, 2, 30)}
    clock.now = utc(2026, 10, 25, 1, 30)  # 02:30 CET, the second pass: still the same window
    fire(scheduler, clock, "mode-switcher:closing-warning:30")
    fire(scheduler, clock, EDGE)
    assert recorder.modes() == [DoorMode.OPENPLUS, DoorMode.CLOSED]


def test_empty_schedule_rechecks_daily(scheduler: BackgroundScheduler) -> None:
    clock, recorder = FakeClock(utc(2026, 6, 3, 12, 0)), Recorder()
    make_switcher(Schedule(), clock, scheduler, recorder).start()
    assert planned(scheduler) == {"mode-switcher:recheck": utc(2026, 6, 4, 12, 0)}
    fire(scheduler, clock, "mode-switcher:recheck")
    assert recorder.modes() == [DoorMode.CLOSED, DoorMode.CLOSED]


def test_stop_cancels_jobs_on_a_shared_scheduler(scheduler: BackgroundScheduler) -> None:
    clock, recorder = FakeClock(local(2026, 6, 3, 12, 0)), Recorder()
    switcher = make_switcher(load_schedule_file(BEILEN), clock, scheduler, recorder)
    switcher.start()
    job = scheduler.get_job(EDGE)
    switcher.stop()
    assert scheduler.get_jobs() == []
    job.func(*job.args)  # a job already handed to a worker before stop() does nothing
    assert len(recorder.calls) == 1


def test_warning_minutes_must_be_positive(scheduler: BackgroundScheduler) -> None:
    with pytest.raises(ValueError, match="> 0"):
        ModeSwitcher(Schedule(), print, scheduler=scheduler, closing_warning_minutes=(0,))


# ---------------------------------------------------------------- the real scheduler


def test_real_scheduler_fires_a_one_shot_job_on_time() -> None:
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.start()
    fired = threading.Event()
    fired_at: list[datetime] = []
    try:
        run_at = utc_now() + timedelta(seconds=0.2)
        schedule_once(scheduler, "probe", run_at,
                      lambda: (fired_at.append(utc_now()), fired.set()))
        assert fired.wait(timeout=3), "job at now+0.2 s did not fire within 3 s"
        assert fired_at[0] >= run_at
        # get_job takes the scheduler's job-store lock, so None means it finished with the
        # job; shutting down before that races APScheduler's own removal of it.
        pause = threading.Event()
        for _ in range(300):
            if scheduler.get_job("probe") is None:
                break
            pause.wait(0.01)
    finally:
        scheduler.shutdown(wait=False)


def test_own_scheduler_is_started_and_stopped_with_the_switcher() -> None:
    schedule = load_schedule_file(BEILEN)
    announced: list[ModeNow] = []
    switcher = ModeSwitcher(schedule, announced.append)
    now = switcher.start()
    try:
        assert switcher.scheduler.running and announced == [now]
        job = switcher.scheduler.get_job(EDGE)
        assert now.until is not None and job.next_run_time == now.until
    finally:
        switcher.stop()
    assert not switcher.scheduler.running
