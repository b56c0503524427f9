"""The Statistics page, its CSV and the council's month page, through TestClient, on a generated
March 2026 (tests/statistics_support.py): the figures, the charts' accessible parts, the
languages, who may see them, and bad input answered with a message."""

from __future__ import annotations

import csv
import io
import re
from contextlib import closing
from datetime import UTC, datetime

import pytest

from controller.domain.clock import BRANCH_TZ
from controller.services.runtime import Runtime
from controller.services.statistics import add_people_counts
from controller.store.events import EventLog
from tests.api.api_support import Api
from tests.statistics_support import MONTH_FIRST, MONTH_LAST, Generated, generate_month, write_events
from tests.web.web_support import sign_in

MARCH = "start=2026-03-01&end=2026-03-31&by=day"


@pytest.fixture
def month(runtime: Runtime) -> Generated:
    generated = generate_month()
    write_events(runtime, generated.events)
    return generated


def count_in(html: str, label: str) -> str:
    """The big number after a dt in the totals."""
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd class=\"count\">([^<]+)</dd>", html)
    assert found, f"no {label!r} in the totals"
    return found.group(1)


def test_the_page_shows_the_month_in_figures_charts_and_tables(web: Api, month: Generated) -> None:
    sign_in(web.client, "manny")
    response = web.client.get(f"/statistics?{MARCH}")
    assert response.status_code == 200
    html = response.text
    assert '<a href="/statistics" aria-current="page">Statistiek</a>' in html  # in the menu
    assert count_in(html, "Binnenkomsten") == str(len(month.granted))
    assert count_in(html, "Geweigerd") == str(len(month.refused))
    assert count_in(html, "Aandeel Open+") == f"{100 * month.openplus() / len(month.granted):.0f} %"
    assert count_in(html, "Verschillende leden") == str(month.members_between(MONTH_FIRST, MONTH_LAST))
    for chart in ("chart-entries", "chart-hours", "chart-refusals"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
    table = html.split('<table id="table-entries">')[1].split("</table>")[0]
    assert table.count('<th scope="row"') == 31
    assert '<th scope="row" class="nowrap">2026-03-29</th>' in table
    refusals = html.split('<table id="table-refusals">')[1].split("</table>")[0]
    reason, count = month.refusals().most_common(1)[0]
    assert re.search(rf"<td>{count}</td>", refusals)
    assert "Geen personenteller aangesloten" in html
    assert "<script" not in html.split("</head>")[1]  # the charts need no script
    web.client.get("/lang?to=en&next=/statistics")
    english = web.client.get(f"/statistics?{MARCH}").text
    assert "Busiest hours" in english and "Refusals by reason" in english
    assert count_in(english, "Entries") == str(len(month.granted))


def test_security_sees_it_and_nobody_signed_out_does(web: Api, month: Generated) -> None:
    assert web.client.get("/statistics", follow_redirects=False).status_code == 303
    assert web.client.get("/statistics/export.csv", follow_redirects=False).status_code == 303
    sign_in(web.client, "sec")
    assert web.client.get(f"/statistics?{MARCH}").status_code == 200
    assert web.client.get("/statistics/month?month=2026-03").status_code == 200


def test_the_csv_has_the_buckets_of_the_chosen_period(web: Api, month: Generated) -> None:
    sign_in(web.client, "manny")
    response = web.client.get("/statistics/export.csv?start=2026-03-01&end=2026-03-31&by=week")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert (
        'filename="statistics-2026-02-23-2026-04-05-week.csv"' in response.headers["content-disposition"]
    )  # widened to whole ISO weeks
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["start"][:10] for r in rows] == [
        "2026-02-23",
        "2026-03-02",
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
        "2026-03-30",
    ]
    assert sum(int(r["entries"]) for r in rows) == len(month.granted)
    assert sum(int(r["entries_openplus"]) for r in rows) == month.openplus()
    assert sum(int(r["refused"]) for r in rows) == len(month.refused)
    assert rows[0]["entries"] == str(month.granted_per_day()[MONTH_FIRST])  # Sunday 1 March
    assert rows[0]["distinct_members"] == str(month.members_on(MONTH_FIRST))
    assert "P0001" not in response.text


def test_bad_input_gets_a_message_never_a_500(web: Api, month: Generated) -> None:
    sign_in(web.client, "manny")
    for query, text in (
        ("start=2026-13-01", "JJJJ-MM-DD"),
        ("by=year", "per uur, dag, week"),
        ("start=2026-03-05&end=2026-03-01", "voor de begindatum"),
        (f"{MARCH[:-3]}hour", "hoogstens 7 dagen"),
    ):
        response = web.client.get(f"/statistics?{query}")
        assert response.status_code == 422 and text in response.text, query
    csv_response = web.client.get("/statistics/export.csv?start=nope")
    assert csv_response.status_code == 422 and "JJJJ-MM-DD" in csv_response.text
    month_response = web.client.get("/statistics/month?month=March")
    assert month_response.status_code == 422 and "Geen geldige maand" in month_response.text
    assert "november 2026" in month_response.text  # the clock's month instead


def test_the_month_page_for_the_council(web: Api, month: Generated) -> None:
    sign_in(web.client, "manny")
    html = web.client.get("/statistics/month?month=2026-03").text
    assert "<h1>Maandoverzicht maart 2026</h1>" in html
    assert '<link rel="stylesheet" href="/static/statistics.css">' in html
    assert count_in(html, "Binnenkomsten") == str(len(month.granted))
    assert count_in(html, "Verschillende leden in Open+") == str(
        month.members_between(MONTH_FIRST, MONTH_LAST, openplus=True)
    )
    busiest = month.granted_per_local_hour().most_common(1)[0][0]
    assert f"Drukste uren: {busiest:02d}:00-{busiest + 1:02d}:00" in html
    days = html.split('<table id="table-days" class="compact">')[1].split("</table>")[0]
    assert days.count('<th scope="row"') == 31 and "Zondag 29-03" in days
    assert 'href="/statistics/month?month=2026-02"' in html and 'month=2026-04"' in html
    css = web.client.get("/static/statistics.css").text
    assert "@media print" in css and ".top" in css


def test_the_page_counts_new_events_and_keeps_them_after_the_purge(
    web: Api, runtime: Runtime, month: Generated
) -> None:
    sign_in(web.client, "manny")
    before = count_in(web.client.get(f"/statistics?{MARCH}").text, "Binnenkomsten")
    extra = generate_month(seed=99).granted[:5]
    write_events(runtime, extra)
    after = count_in(web.client.get(f"/statistics?{MARCH}").text, "Binnenkomsten")
    assert int(after) == int(before) + 5  # rolled up when the page was opened
    with closing(runtime.connection()) as conn:
        EventLog(conn).purge(datetime(2026, 6, 1, tzinfo=UTC))
    assert count_in(web.client.get(f"/statistics?{MARCH}").text, "Binnenkomsten") == after


def test_occupancy_is_drawn_once_a_people_counter_has_counted(web: Api, runtime: Runtime) -> None:
    sign_in(web.client, "manny")
    day = "start=2026-03-10&end=2026-03-10"
    assert "chart-occupancy" not in web.client.get(f"/statistics?{day}").text
    for hour, came, left in ((9, 6, 1), (11, 2, 4)):
        add_people_counts(runtime, "entrance", datetime(2026, 3, 10, hour, 5, tzinfo=BRANCH_TZ), came, left)
    html = web.client.get(f"/statistics?{day}").text
    assert 'aria-labelledby="chart-occupancy-title chart-occupancy-desc"' in html
    hours = html.split('<table id="table-hours">')[1].split("</table>")[0]
    assert '<th scope="row">09:00</th><td>0</td><td>5.0</td>' in hours
    assert '<th scope="row">11:00</th><td>0</td><td>3.0</td>' in hours
