"""GET /api/v1/lms and `decided_by` on the events: the library-system link as the API shows it."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from controller.config.settings import parse_settings
from controller.domain.events import EventType, LmsLinkReason
from controller.services.lms_overview import lms_overview
from controller.services.runtime import Runtime
from controller.store.db import transaction
from controller.store.fleet_commands import FleetApplied
from controller.web.i18n import Translator
from controller.web.routers.today import lms_status
from tests.api.api_support import Api, build_api
from tests.conftest import FakeClock
from tests.web.web_support import record_event

READ = "reader=rfid mode=openplus"


def test_a_branch_without_an_lms_says_so_with_the_default_rules(api: Api) -> None:
    body = api.client.get("/api/v1/lms", headers=api.auth("sec")).json()
    assert body == {
        "enabled": False,
        "offline_policy": "cached",
        "cache_days": 7,
        "eligibility": {
            "min_age": 18,
            "open_plus_patron_classes": [],
            "barring_status_positions": [],
            "card_lost_bars": True,
            "check_expiry": True,
            "minors_need_consent": True,
        },
        "rules_from_fleet": None,
        "last_link_change": None,
        "offline_entries_today": 0,
    }


def test_the_lms_route_is_for_security_and_up(api: Api) -> None:
    assert api.client.get("/api/v1/lms").status_code == 401
    assert api.client.get("/api/v1/lms", headers=api.auth("manny")).status_code == 403
    assert api.client.get("/api/v1/lms", headers=api.auth("admin")).status_code == 200


@pytest.fixture
def lms_api(tmp_path: Path, clock: FakeClock) -> Api:
    settings = parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "lms": {"enabled": True, "offline_policy": "allow-registered", "cache_days": 3},
            "eligibility": {
                "min_age": 16,
                "barring_status_positions": [10, 6],
                "open_plus_patron_classes": ["OPEN"],
                "minors_need_consent": False,
            },
        },
        "test",
    )
    return build_api(Runtime.open(settings, clock=clock))


def test_the_link_its_last_change_and_todays_offline_entries(lms_api: Api, clock: FakeClock) -> None:
    runtime = lms_api.services.runtime
    yesterday = datetime.fromisoformat("2026-11-24T22:59:59+00:00")  # 23:59:59 in Amsterdam
    record_event(
        runtime,
        EventType.ACCESS_GRANTED,
        yesterday,
        reason="granted",
        detail=f"{READ} decided_by=offline_cache lms=timeout",
    )
    record_event(
        runtime,
        EventType.LMS_LINK,
        datetime.fromisoformat("2026-11-25T12:00:00+00:00"),
        reason=LmsLinkReason.LMS_LOST.value,
        detail="connect timed out",
    )
    for detail in (
        "decided_by=offline_cache lms=timeout",
        "decided_by=offline_local lms=closed",
        "decided_by=lms",
        "",
    ):
        record_event(
            runtime, EventType.ACCESS_GRANTED, clock(), reason="granted", detail=f"{READ} {detail}".strip()
        )
    record_event(
        runtime,
        EventType.ACCESS_REFUSED,
        clock(),
        reason="lms_unavailable",
        detail=f"{READ} decided_by=offline_deny lms=timeout",
    )
    body = lms_api.client.get("/api/v1/lms", headers=lms_api.auth("sec")).json()
    assert body["enabled"] is True and body["offline_policy"] == "allow-registered"
    assert body["cache_days"] == 3
    assert body["eligibility"]["barring_status_positions"] == [6, 10]
    assert body["eligibility"]["open_plus_patron_classes"] == ["OPEN"]
    assert body["eligibility"]["minors_need_consent"] is False
    assert body["last_link_change"] == {
        "state": "down",
        "detail": "connect timed out",
        "at": {"utc": "2026-11-25T12:00:00Z", "local": "2026-11-25T13:00:00+01:00"},
    }
    assert body["offline_entries_today"] == 3
    record_event(runtime, EventType.LMS_LINK, clock(), reason=LmsLinkReason.LMS_BACK.value)
    back = lms_api.client.get("/api/v1/lms", headers=lms_api.auth("sec")).json()
    assert back["last_link_change"]["state"] == "up"
    assert back["last_link_change"]["detail"] is None


def test_rules_sent_by_the_fleet_are_the_ones_shown(lms_api: Api, clock: FakeClock) -> None:
    """The door judges by the fleet's last `rules` command (services/fleet/apply.py): the API
    and the Today page must show those, not the config file's [eligibility]."""
    runtime = lms_api.services.runtime
    with closing(runtime.connection()) as conn, transaction(conn):
        FleetApplied(conn).record("rules", 7, "c" * 32, {"min_age": 20, "check_expiry": False}, clock())
    body = lms_api.client.get("/api/v1/lms", headers=lms_api.auth("sec")).json()
    assert body["rules_from_fleet"] == 7
    assert (body["eligibility"]["min_age"], body["eligibility"]["check_expiry"]) == (20, False)
    with closing(runtime.connection()) as conn:
        overview = lms_overview(runtime.settings, conn, clock())
    shown = lms_status(overview, Translator("en"))
    assert "Minimum age: 20 years." in shown["lms_rules"]
    assert "fleet console (version 7)" in shown["lms_rules_where"]


def test_each_access_event_says_which_path_decided_it(api: Api, runtime: Runtime, clock: FakeClock) -> None:
    details = {
        "lms": f"{READ} decided_by=lms",
        "offline_cache": f"{READ} decided_by=offline_cache lms=timeout",
        "none": READ,
        "odd": f"{READ} decided_by=guesswork",
    }
    ids = {
        name: record_event(runtime, EventType.ACCESS_GRANTED, clock(), reason="granted", detail=detail)
        for name, detail in details.items()
    }
    events = api.client.get("/api/v1/events?type=access_granted", headers=api.auth("sec")).json()
    decided = {event["id"]: event["decided_by"] for event in events["events"]}
    assert decided == {
        ids["lms"]: "lms",
        ids["offline_cache"]: "offline_cache",
        ids["none"]: None,
        ids["odd"]: None,
    }
