"""Open alerts in the API and on the Today page; security acknowledges one, audited."""

from __future__ import annotations

from contextlib import closing

import pytest

from controller.config.alerts import AlertSettings
from controller.services.alerts.watch import AlertWatch
from controller.services.runtime import Runtime
from tests.alerts.alert_support import record
from tests.api.api_support import Api, build_api, events_of
from tests.conftest import FakeClock
from tests.web.web_support import csrf_of, sign_in


@pytest.fixture
def api(runtime: Runtime) -> Api:
    return build_api(runtime)


def alerts_section(page: str) -> str:
    """The Today page's open-alerts card (the alarms card above names events alike)."""
    start = page.index('aria-labelledby="alerts-h"')
    return page[start : page.index("</section>", start)]


def raise_alerts(runtime: Runtime, clock: FakeClock) -> None:
    """A forced door and a lost library system, listed (no channel configured)."""
    record(runtime.db, "door_forced", None, clock())
    record(runtime.db, "lms_link", "lms_lost", clock.advance(seconds=5), detail="connect timed out")
    watch = AlertWatch(runtime.db, AlertSettings(enabled=True), clock, "entrance")
    with closing(runtime.connection()) as conn:
        assert len(watch.poll_once(conn)) == 2


def test_security_lists_and_acknowledges_alerts(api: Api, runtime: Runtime, clock: FakeClock) -> None:
    raise_alerts(runtime, clock)
    listed = api.client.get("/api/v1/alerts", headers=api.auth("sec"))
    assert listed.status_code == 200
    alerts = listed.json()
    assert [(a["kind"], a["what"], a["sent"]) for a in alerts] == [
        ("lms_lost", "Bibliotheeksysteem onbereikbaar", False),
        ("door_forced", "Deur geforceerd", False),
    ]
    assert alerts[0]["detail"] == "connect timed out" and alerts[0]["deliveries"] == []

    forced = alerts[1]["id"]
    acked = api.client.post(f"/api/v1/alerts/{forced}/ack", headers=api.auth("sec"))
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"] == "api:sec"
    again = api.client.post(f"/api/v1/alerts/{forced}/ack", headers=api.auth("sec"))
    assert again.status_code == 404 and "no open alert" in again.json()["detail"]
    assert [a["kind"] for a in api.client.get("/api/v1/alerts", headers=api.auth("sec")).json()] == [
        "lms_lost"
    ]
    audit = events_of(runtime, "type = 'admin_change' AND reason = 'alert_acknowledged'")
    assert [(e["actor"], e["detail"]) for e in audit] == [("api:sec", f"alert={forced} kind=door_forced")]


def test_alerts_are_security_s_and_a_bad_id_is_refused(api: Api) -> None:
    assert api.client.get("/api/v1/alerts", headers=api.auth("manny")).status_code == 403
    assert api.client.post("/api/v1/alerts/1/ack", headers=api.auth("manny")).status_code == 403
    assert api.client.post("/api/v1/alerts/0/ack", headers=api.auth("sec")).status_code == 422
    assert api.client.get("/api/v1/alerts?limit=0", headers=api.auth("sec")).status_code == 422


def test_today_lists_open_alerts_and_acknowledges_one(api: Api, runtime: Runtime, clock: FakeClock) -> None:
    raise_alerts(runtime, clock)
    sign_in(api.client, "sec")
    page = api.client.get("/today").text
    section = alerts_section(page)
    assert "Deur geforceerd" in section and "Bibliotheeksysteem onbereikbaar" in section
    assert "niet verstuurd (alleen getoond)" in section
    with closing(runtime.connection()) as conn:
        forced = conn.execute("SELECT id FROM alerts WHERE kind = 'door_forced'").fetchone()[0]
    posted = api.client.post(
        "/today/alerts/ack",
        data={"alert_id": str(forced), "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert posted.status_code == 303 and posted.headers["location"] == "/today"
    page = api.client.get("/today").text
    section = alerts_section(page)
    assert "Deur geforceerd" not in section and "Bibliotheeksysteem onbereikbaar" in section
    actors = [e["actor"] for e in events_of(runtime, "reason = 'alert_acknowledged'")]
    assert actors and actors[0].endswith("sec")
    gone = api.client.post(
        "/today/alerts/ack",
        data={"alert_id": str(forced), "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert gone.status_code == 404


def test_a_manager_sees_no_alerts_and_cannot_acknowledge(
    api: Api, runtime: Runtime, clock: FakeClock
) -> None:
    raise_alerts(runtime, clock)
    sign_in(api.client, "manny")
    page = api.client.get("/today").text
    assert "Open meldingen" not in page
    refused = api.client.post(
        "/today/alerts/ack", data={"alert_id": "1", "csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert refused.status_code == 403
