"""Statistics: access events rolled up into hourly counts without identities, which survive the
purge of the events, count each event once however often the roll-up runs, and keep the
branch's local hours across both DST changes."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, date, datetime, time, timedelta

import pytest
from gpiozero.pins.mock import MockFactory

from controller.cli.main import main
from controller.domain.clock import BRANCH_TZ
from controller.domain.schedule import parse_schedule
from controller.door.branch import BranchService
from controller.services.runtime import Runtime
from controller.services.statistics import (
    BATCH,
    add_people_counts,
    period_end,
    period_start,
    roll_up,
)
from controller.services.statistics_report import BadPeriod, Grain, Report, build_report, csv_text
from controller.sim.hardware import SimulatedHardware
from controller.store.events import EventLog
from controller.store.statistics import StatisticsStore
from tests.statistics_support import (
    DST_DAY,
    MEMBERS,
    MONTH_FIRST,
    MONTH_LAST,
    access_event,
    generate_month,
    write_events,
)

APRIL = datetime(2026, 4, 5, 10, 0, tzinfo=UTC)  # after March, its periods closed


def report(runtime: Runtime, first: date, last: date, grain: Grain = Grain.DAY) -> Report:
    with closing(runtime.connection()) as conn:
        return build_report(StatisticsStore(conn), first, last, grain)


def table_rows(runtime: Runtime, table: str) -> list[tuple]:
    with closing(runtime.connection()) as conn:
        return [tuple(row) for row in conn.execute(f"SELECT * FROM {table}")]


def test_a_month_of_events_rolls_up_to_its_counts_per_day_hour_mode_reason_and_member(runtime):
    month = generate_month()
    write_events(runtime, month.events)
    done = roll_up(runtime, APRIL)
    assert done.events == len(month.events)
    march = report(runtime, MONTH_FIRST, MONTH_LAST)
    assert len(march.buckets) == 31
    assert {b.start.date(): b.granted for b in march.buckets} == {
        MONTH_FIRST + timedelta(days=n): month.granted_per_day()[MONTH_FIRST + timedelta(days=n)]
        for n in range(31)
    }
    assert march.granted == len(month.granted) and march.refused == len(month.refused)
    assert march.openplus == month.openplus() and march.staffed == march.granted - march.openplus
    assert dict(march.refusals) == dict(month.refusals())
    assert march.busiest == [month.granted_per_local_hour()[h] for h in range(24)]
    assert march.members == month.members_between(MONTH_FIRST, MONTH_LAST)
    assert march.openplus_members == month.members_between(MONTH_FIRST, MONTH_LAST, openplus=True)
    assert all(b.members == month.members_on(b.start.date()) for b in march.buckets)
    assert march.members <= len(MEMBERS)


def test_the_day_the_clocks_go_forward_has_23_hours_and_its_entries_in_local_hours(runtime):
    month = generate_month()
    write_events(runtime, month.events)
    roll_up(runtime, APRIL)
    day = report(runtime, DST_DAY, DST_DAY, Grain.HOUR)
    assert len(day.buckets) == 23
    assert [b.start.hour for b in day.buckets[:4]] == [0, 1, 3, 4]  # no 02:00
    assert day.buckets[1].granted == 1  # 01:30 CET
    assert day.buckets[2].granted == 2  # 03:00 and 03:30 CEST (generated ones start at 08:00)
    assert sum(b.granted for b in day.buckets) == month.granted_per_day()[DST_DAY]


def test_the_day_the_clocks_go_back_keeps_its_two_2_oclock_hours_apart(runtime):
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    write_events(
        runtime,
        [
            access_event(first, True, "openplus", "P0001"),
            access_event(second, True, "openplus", "P0002"),
            access_event(second, True, "openplus", "P0001"),
        ],
    )
    roll_up(runtime, datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    day = report(runtime, date(2026, 10, 25), date(2026, 10, 25), Grain.HOUR)
    assert len(day.buckets) == 25
    twos = [(b.start.strftime("%H:%M %Z"), b.granted) for b in day.buckets if b.start.hour == 2]
    assert twos == [("02:00 CEST", 1), ("02:00 CET", 2)]
    assert day.busiest[2] == 3
    assert report(runtime, date(2026, 10, 25), date(2026, 10, 25)).members == 2


def test_running_it_again_or_in_pieces_counts_every_event_once(runtime):
    month = generate_month()
    half = len(month.events) // 2
    write_events(runtime, month.events[:half])
    roll_up(runtime, datetime(2026, 3, 16, 12, tzinfo=UTC))
    assert roll_up(runtime, datetime(2026, 3, 16, 13, tzinfo=UTC)).events == 0
    write_events(runtime, month.events[half:])
    assert roll_up(runtime, APRIL).events == len(month.events) - half
    assert roll_up(runtime, APRIL).events == 0
    pieces = report(runtime, MONTH_FIRST, MONTH_LAST)
    assert pieces.granted == len(month.granted) and pieces.refused == len(month.refused)
    assert pieces.members == month.members_between(MONTH_FIRST, MONTH_LAST)
    assert all(b.members == month.members_on(b.start.date()) for b in pieces.buckets)
    with closing(runtime.connection()) as conn:  # more than one batch was needed
        assert StatisticsStore(conn).newest_event_id() > BATCH


def test_the_counts_survive_the_purge_of_the_events(runtime):
    month = generate_month()
    write_events(runtime, month.events)
    roll_up(runtime, APRIL)
    before = report(runtime, MONTH_FIRST, MONTH_LAST)
    with closing(runtime.connection()) as conn:
        assert EventLog(conn).purge(APRIL) > len(month.events)
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    assert roll_up(runtime, APRIL).events == 0
    after = report(runtime, MONTH_FIRST, MONTH_LAST)
    assert [(b.granted, b.refused, b.members) for b in after.buckets] == [
        (b.granted, b.refused, b.members) for b in before.buckets
    ]
    assert after.members == before.members and after.refusals == before.refusals


def test_new_events_after_every_event_was_purged_are_still_counted(runtime):
    """SQLite gives the next event id max(id) + 1: after a purge of all, ids start again."""
    write_events(runtime, generate_month().events[:50])
    roll_up(runtime, APRIL)
    with closing(runtime.connection()) as conn:
        EventLog(conn).purge(APRIL)
    late = datetime(2026, 4, 6, 18, 0, tzinfo=BRANCH_TZ)
    write_events(runtime, [access_event(late, True, "openplus", "P0007")])
    assert roll_up(runtime, APRIL + timedelta(days=1)).events == 1
    assert report(runtime, late.date(), late.date()).granted == 1


def test_the_daily_purge_rolls_up_first(settings, clock):
    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(sim.settings, parse_schedule({}), pin_factory=sim.factory, clock=clock)
    try:
        old = clock() - timedelta(days=200)
        write_events(
            service.runtime,
            [
                access_event(old, True, "staffed", "P0001"),
                access_event(old, False, "staffed", None, "wrong_pin"),
            ],
        )
        assert service.purge_events() == 3
        gone = report(service.runtime, old.astimezone(BRANCH_TZ).date(), old.astimezone(BRANCH_TZ).date())
        assert (gone.granted, gone.refused, gone.staffed, gone.members) == (1, 1, 1, 1)
    finally:
        sim.close()


def test_no_patron_id_is_stored_and_digests_go_once_the_period_is_over(runtime):
    month = generate_month()
    write_events(runtime, month.events)
    roll_up(runtime, datetime(2026, 3, 31, 20, tzinfo=UTC))
    assert table_rows(runtime, "stats_seen")  # March itself is still open
    stored = repr([table_rows(runtime, t) for t in ("stats_hours", "stats_uniques", "stats_seen")])
    assert not any(member in stored for member in MEMBERS)
    roll_up(runtime, APRIL)
    assert {row[0] for row in table_rows(runtime, "stats_seen")} == {"week:2026-W14"}  # to 5 April
    roll_up(runtime, APRIL + timedelta(days=5))
    assert table_rows(runtime, "stats_seen") == []  # only the numbers are left
    late = datetime(2026, 3, 20, 19, 0, tzinfo=BRANCH_TZ)  # arrives after March was closed
    write_events(runtime, [access_event(late, True, "openplus", "P0999")])
    roll_up(runtime, APRIL)
    again = report(runtime, MONTH_FIRST, MONTH_LAST)
    assert again.granted == len(month.granted) + 1  # an entry still
    assert again.members == month.members_between(MONTH_FIRST, MONTH_LAST)  # not a member twice


def test_people_counts_give_occupancy_over_the_day(runtime):
    day = date(2026, 3, 10)
    for hour, (came, left) in {9: (5, 1), 10: (3, 2), 12: (0, 5)}.items():
        add_people_counts(
            runtime, "entrance", datetime.combine(day, time(hour, 10), tzinfo=BRANCH_TZ), came, left
        )
    result = report(runtime, day, day)
    assert result.has_people and (result.buckets[0].people_in, result.buckets[0].people_out) == (8, 8)
    assert result.occupancy[8] == 0 and result.occupancy[9] == 4 and result.occupancy[11] == 5
    assert result.occupancy[12] == 0
    assert not report(runtime, day + timedelta(days=1), day + timedelta(days=1)).has_people
    with pytest.raises(ValueError, match="negative"):
        add_people_counts(runtime, "entrance", datetime(2026, 3, 10, 9, tzinfo=UTC), -1, 0)


def test_weeks_and_months_cover_whole_periods_and_bad_ranges_are_refused(runtime):
    write_events(runtime, generate_month().events)
    roll_up(runtime, APRIL)
    weeks = report(runtime, date(2026, 3, 4), date(2026, 3, 18), Grain.WEEK)
    assert (weeks.first, weeks.last) == (date(2026, 3, 2), date(2026, 3, 22))
    assert len(weeks.buckets) == 3 and weeks.members is None  # three weeks: no one figure
    months = report(runtime, date(2026, 3, 15), date(2026, 3, 15), Grain.MONTH)
    assert (months.first, months.last, len(months.buckets)) == (MONTH_FIRST, MONTH_LAST, 1)
    assert months.buckets[0].members == months.members
    assert (period_start("week:2026-W13"), period_end("week:2026-W13")) == (
        date(2026, 3, 23),
        date(2026, 3, 30),
    )
    assert period_end("month:2026-12") == date(2027, 1, 1)
    with pytest.raises(BadPeriod, match="before the start"):
        report(runtime, date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(BadPeriod, match="at most 7 days"):
        report(runtime, MONTH_FIRST, MONTH_LAST, Grain.HOUR)


def test_the_csv_has_a_row_per_bucket_and_a_column_per_refusal_reason(runtime):
    month = generate_month()
    write_events(runtime, month.events)
    roll_up(runtime, APRIL)
    lines = list(csv_text(report(runtime, MONTH_FIRST, MONTH_LAST)))
    header = lines[0].strip().split(",")
    assert header[:7] == [
        "start",
        "end",
        "entries",
        "entries_openplus",
        "entries_staffed",
        "entries_other_modes",
        "refused",
    ]
    assert {h for h in header if h.startswith("refused_")} == {f"refused_{r}" for r in month.refusals()}
    assert len(lines) == 32
    first = dict(zip(header, lines[1].strip().split(","), strict=True))
    assert first["start"] == "2026-03-01T00:00:00+01:00"
    assert int(first["entries"]) == month.granted_per_day()[MONTH_FIRST]


def test_the_command_rolls_up(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    assert main(["stats", "rollup"]) == 0  # creates the database: nothing to do
    assert "0 access event(s)" in capsys.readouterr().out
    from controller.config.settings import load_settings

    write_events(Runtime.open(load_settings(None)), generate_month().events[:20])
    assert main(["stats", "rollup"]) == 0
    assert "20 access event(s)" in capsys.readouterr().out
