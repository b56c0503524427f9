"""The Statistics page (roles manager and security): entries per hour, day, week or month, Open+
against staffed hours, distinct members, refusals by reason, busiest hours and occupancy, as
server-side SVG charts with their numbers in tables; the CSV of the same buckets; and a month
page for the council, made to be printed.

Everything is read from the rolled-up counts (controller/services/statistics.py), which stay
after the events are purged; opening a page first rolls up what the door logged since the
last roll-up, so the figures are current.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from controller.domain.clock import local_date
from controller.domain.days import iso_day
from controller.services.runtime import Runtime
from controller.services.statistics import next_month, roll_up
from controller.services.statistics_report import BadPeriod, Grain, Report, build_report, csv_text
from controller.services.users import Role
from controller.store.statistics import StatisticsStore
from controller.web.charts import Chart, Series, bar_chart, hbar_chart
from controller.web.i18n import Translator, language_of
from controller.web.pages import AnyViewer, Conn, PageForbidden, render, services_of
from controller.web.sessions import Viewer

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# The parts of an entries bar: (CSS class, string key); "other" is closed or closure hours
# (a staff card) and events from before the door mode was logged.
MODE_PARTS = (
    ("bar-openplus", "mode.openplus"),
    ("bar-staffed", "mode.staffed"),
    ("bar-other", "statistics.other_modes"),
)

# Keys spelled out (not built from the value), so the catalog's test sees each in use.
GRAIN_KEYS = {
    Grain.HOUR: "statistics.grain.hour",
    Grain.DAY: "statistics.grain.day",
    Grain.WEEK: "statistics.grain.week",
    Grain.MONTH: "statistics.grain.month",
}
BAD_PERIOD_KEYS = {
    "end_before_start": "statistics.bad.end_before_start",
    "hours_too_long": "statistics.bad.hours_too_long",
    "too_long": "statistics.bad.too_long",
}
MONTH_KEYS = (
    "statistics.months.m01",
    "statistics.months.m02",
    "statistics.months.m03",
    "statistics.months.m04",
    "statistics.months.m05",
    "statistics.months.m06",
    "statistics.months.m07",
    "statistics.months.m08",
    "statistics.months.m09",
    "statistics.months.m10",
    "statistics.months.m11",
    "statistics.months.m12",
)


def _statistics_viewer(viewer: AnyViewer) -> Viewer:
    """Managers (who report to the council) and security (who watch the door) see it."""
    if not (viewer.may(Role.MANAGER) or viewer.may(Role.SECURITY)):
        raise PageForbidden(Role.MANAGER)
    return viewer


StatisticsPage = Annotated[Viewer, Depends(_statistics_viewer)]


def _rolled_up(runtime: Runtime) -> None:
    """Count what the door logged since the last roll-up; a busy database leaves the figures
    as they were (the page says up to when), never an error page."""
    try:
        roll_up(runtime)
    except sqlite3.OperationalError as exc:
        log.warning("statistics: roll-up skipped for the page: %s", exc)


def _range(runtime: Runtime, start: str, end: str, by: str) -> tuple[date, date, Grain, str | None]:
    """The days and grain asked for (this month by day when not given), and the catalog key
    of what is wrong with them, if anything."""
    today = local_date(runtime.clock())
    first = iso_day(start[:10]) if start else today.replace(day=1)
    last = iso_day(end[:10]) if end else next_month(today) - timedelta(days=1)
    grain = Grain(by) if by in Grain._value2member_map_ else Grain.DAY
    if first is None or last is None:
        return today, today, grain, "statistics.bad_date"
    if by and by not in Grain._value2member_map_:
        return first, last, Grain.DAY, "statistics.bad_grain"
    return first, last, grain, None


def _report(
    conn: sqlite3.Connection, first: date, last: date, grain: Grain, t: Translator
) -> tuple[Report | None, str | None]:
    """The report, or what is wrong with the period in the viewer's language."""
    try:
        return build_report(StatisticsStore(conn), first, last, grain), None
    except BadPeriod as exc:
        return None, t(BAD_PERIOD_KEYS[exc.code], days=exc.days)


def _label(t: Translator, report: Report, start_index: int) -> str:
    """A bucket's name on the chart's axis: short, since there may be many."""
    start = report.buckets[start_index].start
    if report.grain is Grain.HOUR:
        return start.strftime("%d-%m %H:00")
    if report.grain is Grain.DAY:
        return start.strftime("%d-%m")
    if report.grain is Grain.WEEK:
        return t("statistics.week_short", week=start.isocalendar().week)
    return start.strftime("%m-%Y")


def charts(t: Translator, report: Report) -> dict[str, Chart]:
    """The page's charts: entries per bucket by mode, busiest hours, refusals, occupancy."""
    names = [_label(t, report, i) for i in range(len(report.buckets))]
    parts = (lambda b: b.openplus, lambda b: b.staffed, lambda b: b.other_modes)
    series = [
        Series(t(key), css, [float(get(b)) for b in report.buckets])
        for (css, key), get in zip(MODE_PARTS, parts, strict=True)
    ]
    found = {
        "entries": bar_chart(
            "chart-entries",
            t("statistics.entries_title"),
            t(
                "statistics.entries_desc",
                entries=report.granted,
                openplus=report.openplus,
                staffed=report.staffed,
            ),
            names,
            series,
        ),
        "hours": bar_chart(
            "chart-hours",
            t("statistics.hours_title"),
            t("statistics.hours_desc", hours=", ".join(f"{h:02d}:00" for h in report.busiest_hours) or "-"),
            [f"{h:02d}" for h in range(24)],
            [Series(t("statistics.entries"), "bar-hours", [float(n) for n in report.busiest])],
        ),
        "refusals": hbar_chart(
            "chart-refusals",
            t("statistics.refusals_title"),
            t("statistics.refusals_desc", refused=report.refused),
            [(t.reason(reason), float(n)) for reason, n in report.refusals],
            "bar-refused",
        ),
    }
    if report.has_people:
        found["occupancy"] = bar_chart(
            "chart-occupancy",
            t("statistics.occupancy_title"),
            t("statistics.occupancy_desc"),
            [f"{h:02d}" for h in range(24)],
            [Series(t("statistics.inside"), "bar-inside", [max(v or 0.0, 0.0) for v in report.occupancy])],
        )
    return found


@router.get("/statistics")
def statistics_page(
    request: Request, viewer: StatisticsPage, conn: Conn, start: str = "", end: str = "", by: str = ""
) -> Response:
    runtime = services_of(request).runtime
    _rolled_up(runtime)
    first, last, grain, bad = _range(runtime, start, end, by)
    t = Translator(language_of(request))
    report, problem = (None, None) if bad else _report(conn, first, last, grain, t)
    query = urlencode({"start": first.isoformat(), "end": last.isoformat(), "by": grain.value})
    return render(
        request,
        "statistics.html",
        viewer,
        status_code=422 if bad or problem else 200,
        report=report,
        bad=bad,
        problem=problem,
        start=start[:10] or first.isoformat(),
        end=end[:10] or last.isoformat(),
        grain=grain.value,
        grains=[(g.value, GRAIN_KEYS[g]) for g in Grain],
        charts=charts(t, report) if report else {},
        query=query,
        month=first.strftime("%Y-%m"),
    )


@router.get("/statistics/export.csv")
def export_statistics(
    request: Request, viewer: StatisticsPage, conn: Conn, start: str = "", end: str = "", by: str = ""
) -> Response:
    runtime = services_of(request).runtime
    _rolled_up(runtime)
    first, last, grain, bad = _range(runtime, start, end, by)
    t = Translator(language_of(request))
    report, problem = (None, None) if bad else _report(conn, first, last, grain, t)
    if report is None:
        message = problem or t(bad or "statistics.bad_date")
        return PlainTextResponse(message + "\n", status_code=422)
    name = f"statistics-{report.first.isoformat()}-{report.last.isoformat()}-{grain.value}.csv"
    return StreamingResponse(
        csv_text(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/statistics/month")
def month_page(request: Request, viewer: StatisticsPage, conn: Conn, month: str = "") -> Response:
    """The council's page for one month (this month when not given): totals, Open+ share,
    entries per day, busiest hours and refusals by reason; print it from the browser."""
    runtime = services_of(request).runtime
    _rolled_up(runtime)
    first = iso_day(f"{month[:7]}-01") if month else local_date(runtime.clock()).replace(day=1)
    bad = first is None
    first = first or local_date(runtime.clock()).replace(day=1)
    report = build_report(StatisticsStore(conn), first, first, Grain.MONTH)
    days = build_report(StatisticsStore(conn), report.first, report.last, Grain.DAY)
    t = Translator(language_of(request))
    previous = (first - timedelta(days=1)).replace(day=1)
    return render(
        request,
        "statistics_month.html",
        viewer,
        status_code=422 if bad else 200,
        bad=bad,
        report=report,
        days=days,
        charts=charts(t, days),
        print_tables=True,
        busiest=", ".join(f"{h:02d}:00-{h + 1:02d}:00" for h in report.busiest_hours),
        month_name=t(MONTH_KEYS[first.month - 1], year=first.year),
        previous=previous.strftime("%Y-%m"),
        following=next_month(first).strftime("%Y-%m"),
        branch=runtime.settings.branch.name,
    )
