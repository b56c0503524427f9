"""Building outputs from the web process (issue 16): over the real door link to an OutputsRunner
on mock pins, the API lists and switches them (manager only, audited as admin_change), and the
Today page shows them with a switch form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gpiozero.pins.mock import MockFactory

from controller.app import create_app
from controller.config.settings import parse_settings
from controller.domain.schedule import WEEKDAYS, Schedule, parse_schedule
from controller.door.link_client import DoorLinkClient
from controller.door.link_server import DoorLinkServer
from controller.door.outputs_runner import OutputsRunner
from controller.door.timers import ClockTimers
from controller.http.services import ApiServices
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from controller.web.i18n import LANG_COOKIE
from tests.api.api_support import CHEAP_PASSWORDS, PASSWORD, events_of
from tests.conftest import FakeClock
from tests.web.web_support import sign_in

# Staffed 09-17, Open+ 17-22; a Monday at 12:00 local (CEST): PCs on, extra lights off.
SCHEDULE = parse_schedule(
    {
        "weekly": {
            day: [
                {"start": "09:00", "end": "17:00", "kind": "staffed"},
                {"start": "17:00", "end": "22:00", "kind": "openplus"},
            ]
            for day in WEEKDAYS
        }
    }
)
NOON = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
OUTPUTS = [
    {"name": "pcs", "pin": 20, "on_in": ["staffed", "openplus"], "offsets": {"openplus_end": -15}},
    {"name": "lights", "pin": 21, "on_in": ["openplus"], "offsets": {"openplus_start": -10}},
]


@dataclass
class LinkedBranch:
    """What the door link's server needs of a door, with the building outputs on mock pins."""

    outputs: OutputsRunner
    loop: object = None

    def snapshot(self) -> None:
        return None

    def remote_unlock(self, actor: str) -> None:
        pass

    def schedule_changed(self, schedule: Schedule) -> None:
        self.outputs.replace_schedule(schedule)

    def metrics_report(self) -> dict[str, Any]:
        return {}


@dataclass
class Site:
    client: TestClient
    runtime: Runtime
    factory: MockFactory
    server: DoorLinkServer
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def pin_on(self, number: int) -> bool:
        return bool(self.factory.pin(number).state)

    def switches(self) -> list[dict[str, Any]]:
        return events_of(self.runtime, "type = 'admin_change' AND reason = 'output_switched'")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    settings = parse_settings({"storage": {"data_dir": str(tmp_path / "data")}, "outputs": OUTPUTS}, "test")
    clock = FakeClock(NOON)
    runtime = Runtime.open(settings, clock=clock)
    factory = MockFactory()
    runner = OutputsRunner.from_settings(settings.outputs, SCHEDULE, clock, ClockTimers(clock), factory)
    runner.start()
    server = DoorLinkServer(tmp_path / "door.sock", LinkedBranch(runner), lambda: SCHEDULE)
    server.start()
    link = DoorLinkClient(tmp_path / "door.sock")
    passwords = Passwords(CHEAP_PASSWORDS)
    tokens = {}
    with closing(runtime.connection()) as conn:
        admin = user_admin(runtime, conn, passwords)
        for name, role in (("manny", "manager"), ("sec", "security")):
            admin.create(name, PASSWORD, [role], "test:setup")
            tokens[name] = admin.create_token(name, "tests", "test:setup", None).secret
    app = create_app(
        ApiServices(runtime=runtime, door=link, schedule_changed=link.schedule_changed, passwords=passwords)
    )
    client = TestClient(app)
    client.cookies.set(LANG_COOKIE, "en")  # the page's words in English (Dutch by default)
    try:
        yield Site(client, runtime, factory, server, tokens)
    finally:
        server.stop()
        runner.stop()


def test_a_manager_lists_the_outputs_as_the_door_has_them(site: Site) -> None:
    listed = site.client.get("/api/v1/outputs", headers=site.auth("manny"))
    assert listed.status_code == 200
    pcs, lights = listed.json()
    assert (pcs["name"], pcs["on"], pcs["source"]) == ("pcs", True, "schedule")
    assert pcs["next_at"]["local"] == "2026-06-01T21:45:00+02:00" and pcs["next_on"] is False
    assert (lights["on"], lights["next_at"]["utc"]) == (False, "2026-06-01T14:50:00Z")
    assert site.client.get("/api/v1/outputs", headers=site.auth("sec")).status_code == 403


def test_a_manual_switch_over_the_api_holds_and_is_audited(site: Site) -> None:
    switched = site.client.post("/api/v1/outputs/pcs", json={"state": "off"}, headers=site.auth("manny"))
    assert switched.status_code == 200, switched.text
    body = switched.json()
    assert (body["on"], body["source"], body["manual_by"]) == (False, "manual", "api:manny")
    assert body["next_at"]["local"] == "2026-06-01T21:45:00+02:00"  # until the next planned switch
    assert site.pin_on(20) is False
    [event] = site.switches()
    assert event["actor"] == "api:manny"
    assert event["detail"] == "output=pcs state=off until=2026-06-01 21:45:00 CEST"
    back = site.client.post("/api/v1/outputs/pcs", json={"state": "auto"}, headers=site.auth("manny"))
    assert back.json()["source"] == "schedule" and site.pin_on(20) is True
    assert [e["detail"] for e in site.switches()][-1] == "output=pcs state=auto until=the schedule"


def test_bad_switches_are_refused_with_their_reason_and_not_audited(site: Site) -> None:
    manny = site.auth("manny")
    unknown = site.client.post("/api/v1/outputs/heating", json={"state": "on"}, headers=manny)
    assert unknown.status_code == 404 and "no output named 'heating'" in unknown.text
    assert site.client.post("/api/v1/outputs/pcs", json={"state": "dim"}, headers=manny).status_code == 422
    assert (
        site.client.post("/api/v1/outputs/pcs", json={"state": "on"}, headers=site.auth("sec")).status_code
        == 403
    )
    site.server.stop()
    gone = site.client.post("/api/v1/outputs/pcs", json={"state": "off"}, headers=manny)
    assert gone.status_code == 503
    assert site.switches() == [] and site.pin_on(20) is True


def test_the_today_page_shows_the_outputs_and_a_manager_switches_one(site: Site) -> None:
    csrf = sign_in(site.client, "manny")
    page = site.client.get("/today").text
    assert "Building outputs" in page and 'action="/today/outputs"' in page
    assert "2026-06-01 21:45" in page  # the PCs' next planned switch
    posted = site.client.post(
        "/today/outputs", data={"csrf_token": csrf, "name": "lights", "state": "on"}, follow_redirects=False
    )
    assert posted.status_code == 303
    assert site.pin_on(21) is True
    [event] = site.switches()
    assert event["actor"] == "web:manny" and event["detail"].startswith("output=lights state=on until=")
    assert "by hand (web:manny)" in site.client.get("/today").text
    assert (
        site.client.post(
            "/today/outputs", data={"csrf_token": csrf, "name": "nope", "state": "on"}, follow_redirects=False
        ).status_code
        == 404
    )


def test_security_sees_no_outputs_and_may_not_switch(site: Site) -> None:
    csrf = sign_in(site.client, "sec")
    assert "Building outputs" not in site.client.get("/today").text
    refused = site.client.post(
        "/today/outputs", data={"csrf_token": csrf, "name": "pcs", "state": "off"}, follow_redirects=False
    )
    assert refused.status_code == 403 and site.pin_on(20) is True


def test_with_the_door_process_gone_the_page_says_so_and_switches_nothing(site: Site) -> None:
    csrf = sign_in(site.client, "manny")
    site.server.stop()
    assert "Unknown: the door process is not reachable" in site.client.get("/today").text
    failed = site.client.post(
        "/today/outputs", data={"csrf_token": csrf, "name": "pcs", "state": "off"}, follow_redirects=False
    )
    assert failed.status_code == 503 and "Not switched" in failed.text
    assert site.switches() == []
