"""The library system on the pages: entries decided offline are marked and can be filtered, and
the Today page shows the link, today's offline entries, the offline policy and the rules."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest

from controller.config.settings import parse_settings
from controller.domain.events import EventType, LmsLinkReason
from controller.services.runtime import Runtime
from tests.api.api_support import Api, build_api
from tests.conftest import FakeClock
from tests.web.web_support import record_event, sign_in

READ = "reader=rfid mode=openplus"


def record_decisions(runtime: Runtime, at: datetime) -> None:
    """One access event per path that can decide on an LMS branch, and one from before it."""
    record_event(
        runtime,
        EventType.ACCESS_GRANTED,
        at,
        reason="granted",
        member_ref="by-lms",
        detail=f"{READ} decided_by=lms",
    )
    record_event(
        runtime,
        EventType.ACCESS_GRANTED,
        at,
        reason="granted",
        member_ref="by-cache",
        detail=f"{READ} decided_by=offline_cache lms=timeout",
    )
    record_event(
        runtime,
        EventType.ACCESS_GRANTED,
        at,
        reason="granted",
        member_ref="by-list",
        detail=f"{READ} decided_by=offline_local lms=closed",
    )
    record_event(
        runtime,
        EventType.ACCESS_REFUSED,
        at,
        reason="lms_unavailable",
        member_ref="by-nobody",
        detail=f"{READ} decided_by=offline_deny lms=timeout",
    )
    record_event(runtime, EventType.ACCESS_GRANTED, at, reason="granted", member_ref="no-lms", detail=READ)


def row_of(page: str, patron: str) -> str:
    """The table row that names `patron`."""
    start = page.index(f">{patron}</td>")
    return page[page.rindex("<tr", 0, start) : page.index("</tr>", start)]


def test_an_entry_decided_offline_is_marked_with_its_path(
    web: Api, runtime: Runtime, clock: FakeClock
) -> None:
    record_decisions(runtime, clock())
    sign_in(web.client, "admin")  # sees patron ids whole: the rows are told apart by them
    page = web.client.get("/entries").text
    assert "Offline beslist: pincode uit de cache" in row_of(page, "by-cache")
    assert "Offline beslist: lokale ledenlijst" in row_of(page, "by-list")
    assert "Offline beslist: geweigerd" in row_of(page, "by-nobody")
    assert "Offline beslist" not in row_of(page, "by-lms") + row_of(page, "no-lms")
    web.client.get("/lang?to=en&next=/today")
    english = web.client.get("/entries").text
    assert "Decided offline: cached PIN" in row_of(english, "by-cache")


def test_the_offline_filter_shows_only_entries_decided_offline_and_the_csv_follows(
    web: Api, runtime: Runtime, clock: FakeClock
) -> None:
    record_decisions(runtime, clock())
    sign_in(web.client, "admin")  # sees patron ids whole: the rows are told apart by them
    page = web.client.get("/entries?offline=1").text
    shown = {
        patron
        for patron in ("by-lms", "by-cache", "by-list", "by-nobody", "no-lms")
        if f">{patron}</td>" in page
    }
    assert shown == {"by-cache", "by-list", "by-nobody"}
    assert '<option value="1" selected>' in page  # the filter stays as chosen
    refused = web.client.get("/entries?offline=1&result=refused").text
    assert ">by-nobody</td>" in refused and ">by-cache</td>" not in refused
    export = web.client.get("/entries/export.csv?offline=1")
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff")), delimiter=";"))
    assert {row["member"]: row["decided_by"] for row in rows} == {
        "by-cache": "offline_cache",
        "by-list": "offline_local",
        "by-nobody": "offline_deny",
    }


def test_the_csv_says_which_path_decided_each_entry(web: Api, runtime: Runtime, clock: FakeClock) -> None:
    record_decisions(runtime, clock())
    sign_in(web.client, "admin")  # sees patron ids whole: the rows are told apart by them
    export = web.client.get("/entries/export.csv?result=granted")
    refused = web.client.get("/entries/export.csv?result=refused")
    rows = [
        row
        for text in (export.text, refused.text)
        for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")
    ]
    assert {row["member"]: row["decided_by"] for row in rows} == {
        "by-lms": "lms",
        "by-cache": "offline_cache",
        "by-list": "offline_local",
        "by-nobody": "offline_deny",
        "no-lms": "",
    }


def test_today_has_no_library_system_block_on_a_branch_without_one(web: Api) -> None:
    sign_in(web.client, "sec")
    assert 'id="lms-h"' not in web.client.get("/today").text
    assert web.client.get("/today/status.json").json()["lms"] is False


@pytest.fixture
def lms_runtime(tmp_path: Path, clock: FakeClock) -> Runtime:
    """A branch linked to its LMS: offline policy deny, its own eligibility rules."""
    settings = parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "lms": {"enabled": True, "offline_policy": "deny"},
            "eligibility": {
                "min_age": 16,
                "barring_status_positions": [10, 6],
                "open_plus_patron_classes": ["OPEN", "STAFF"],
                "check_expiry": False,
            },
        },
        "test",
    )
    return Runtime.open(settings, clock=clock)


def test_today_shows_the_link_the_offline_entries_and_the_rules(
    lms_runtime: Runtime, clock: FakeClock
) -> None:
    web = build_api(lms_runtime)
    # Midnight in Amsterdam is 23:00 UTC the day before: an entry at 22:30 UTC is yesterday's.
    record_decisions(lms_runtime, datetime.fromisoformat("2026-11-24T22:30:00+00:00"))
    record_decisions(lms_runtime, clock())
    record_event(
        lms_runtime,
        EventType.LMS_LINK,
        datetime.fromisoformat("2026-11-25T13:05:00+00:00"),
        reason=LmsLinkReason.LMS_LOST.value,
        detail="connect timed out",
    )
    sign_in(web.client, "sec")
    page = web.client.get("/today").text
    block = page[page.index('id="lms-h"') :]
    assert "Niet bereikbaar sinds 2026-11-25 14:05" in block  # local time (UTC+1)
    assert '/entries?offline=1&amp;start=2026-11-25&amp;end=2026-11-25">3</a>' in block
    assert "Niemand komt binnen" in block
    assert "Minimumleeftijd: 16 jaar." in block
    assert "lenerscategorie (PC) OPEN, STAFF" in block
    assert "6: te veel te laat; 10: te hoge boetes" in block
    assert "De vervaldatum uit het bibliotheeksysteem wordt niet gecontroleerd." in block
    assert "[lms] en [eligibility]" in block
    record_event(
        lms_runtime, EventType.LMS_LINK, clock.advance(minutes=5), reason=LmsLinkReason.LMS_BACK.value
    )
    status = web.client.get("/today/status.json").json()
    assert status["lms_link"] == "Verbonden sinds 2026-11-25 21:35"
    assert status["lms_offline_today"] == 3


def test_a_manager_sees_the_block_without_a_link_to_the_entries(
    lms_runtime: Runtime, clock: FakeClock
) -> None:
    web = build_api(lms_runtime)
    sign_in(web.client, "manny")
    web.client.get("/lang?to=en&next=/today")
    block = web.client.get("/today").text.split('id="lms-h"', 1)[1]
    assert "On: card and PIN are checked with the library system" in block
    assert "No outage recorded" in block and "/entries?offline=1" not in block
    assert "Refused with this status" in block and "Nobody gets in" in block


def test_a_branch_that_had_an_lms_link_still_shows_its_last_change(
    web: Api, runtime: Runtime, clock: FakeClock
) -> None:
    record_event(runtime, EventType.LMS_LINK, clock(), reason=LmsLinkReason.LMS_LOST.value)
    sign_in(web.client, "sec")
    block = web.client.get("/today").text.split('id="lms-h"', 1)[1]
    assert "Uit: de lokale ledenlijst beslist" in block
    assert "Niet bereikbaar sinds 2026-11-25 21:30" in block
