"""The console's pages over HTTP (TestClient): the overview of every branch, the log with its
branch filter, sending a schedule and a block list to all or some branches, the applied view,
and what each role may do; bad input gets a page naming the problem, never a 500."""

from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path

import pytest

from fleet_console.service.send import MAX_TARGETS
from fleet_console.store.commands import CommandStore
from fleet_console.web.blocks_form import MAX_BLOCKS
from tests.conftest import FakeClock
from tests.fleet_console.conftest import PREFIX
from tests.fleet_console.console_web_support import (
    BRANCHES,
    csrf_of,
    fleet_day,
    new_console,
    signed_in,
    take_in,
)


@pytest.fixture
def console(tmp_path: Path, clock: FakeClock):
    console = new_console(tmp_path, clock)
    assert set(take_in(console, fleet_day())) == {"received"}
    return console


def row(html: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert found, row_id
    return found.group(1)


def test_the_overview_shows_every_branch_with_state_heartbeat_alerts_and_todays_entries(console) -> None:
    page = signed_in(console, "sam").get("/overview")
    assert page.status_code == 200
    assen, emmen, meppel = (row(page.text, f"branch-{b}") for b in BRANCHES)
    assert "online" in assen and "mode-openplus" in assen and ">7<" in assen
    assert "door-alarm" in emmen and "forced" in emmen and ">3<" in emmen  # 3 entries, 1 alert
    assert '<span class="tag warn">1</span>' in emmen
    assert "offline" in meppel and "late" in meppel and ">0<" in meppel  # yesterday's entry
    assert "door_forced" in page.text  # the open alert, with its close button for security
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_security_closes_an_alert_and_it_is_no_longer_open(console) -> None:
    client = signed_in(console, "sam")
    token = csrf_of(client.get("/overview").text)
    response = client.post(
        "/alerts/close", data={"csrf_token": token, "alert": "emmen/9"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "No open alerts." in client.get("/overview").text


def test_the_log_is_one_list_across_branches_with_a_branch_filter(console) -> None:
    client = signed_in(console, "sam")
    everything = client.get("/log").text
    assert set(re.findall(r'class="branch">(\w+)<', everything)) == set(BRANCHES)
    only = client.get("/log", params={"branch": ["emmen", "meppel"]}).text
    assert re.findall(r'class="branch">(\w+)<', only) == ["emmen"] * 4 + ["meppel"]
    assert "P0" not in only  # pseudonyms and card hints only


def test_the_log_filter_and_its_cursor_are_bounded(console) -> None:
    client = signed_in(console, "sam")
    too_many = client.get("/log", params={"branch": [f"b{n}" for n in range(51)]})
    assert too_many.status_code == 422 and "branch" in too_many.text
    assert client.get("/log", params={"before_ms": "-1", "before_id": "x"}).status_code == 422


def schedule_form(token: str, **targets: object) -> dict[str, object]:
    return {
        "csrf_token": token,
        "monday-0-start": "08:00",
        "monday-0-end": "20:00",
        "monday-0-kind": "openplus",
        "exc-0-date": "2026-12-25",
        "exc-0-kind": "closure",
        "holiday": ["christmas_day"],
        "action": "send",
        **targets,
    }


def test_a_manager_sends_a_schedule_to_all_and_sees_who_applied_it(console) -> None:
    client = signed_in(console, "mia")
    token = csrf_of(client.get("/send/schedule").text)
    response = client.post("/send/schedule", data=schedule_form(token, all="1"), follow_redirects=False)
    assert response.status_code == 303, response.text
    command_id = response.headers["location"].rsplit("/", 1)[1]
    with closing(console.connection()) as conn:
        store = CommandStore(conn)
        command = store.get(command_id)
        assert command is not None and command.kind == "schedule" and command.by == "mia"
        assert command.body["weekly"]["monday"] == [{"start": "08:00", "end": "20:00", "kind": "openplus"}]
        assert [t.branch for t in store.targets(command_id)] == list(BRANCHES)
    ack = {
        "v": 1,
        "branch": "assen",
        "command": command_id,
        "kind": "schedule",
        "version": 1,
        "status": "applied",
        "reason": None,
        "at": "2026-06-10T10:00:01Z",
    }
    assert take_in(console, [("assen", "acks", ack)]) == ["received"]
    page = client.get(f"/commands/{command_id}").text
    assert "applied" in row(page, "target-assen")
    assert "pending" in row(page, "target-emmen")
    assert "pending" in row(page, "target-meppel") and "offline" in row(page, "target-meppel")
    assert re.search(r'id="applied">1<', page) and re.search(r'id="pending">2<', page)
    assert "1 of 3" in client.get("/commands").text
    # The editor starts from what was sent last.
    assert 'value="08:00"' in client.get("/send/schedule").text


def test_an_invalid_schedule_is_shown_with_its_problem_and_nothing_is_sent(console) -> None:
    client = signed_in(console, "mia")
    token = csrf_of(client.get("/send/schedule").text)
    form = schedule_form(token, all="1") | {"monday-0-end": "07:00"}
    page = client.post("/send/schedule", data=form)
    assert page.status_code == 422 and 'id="problems-monday"' in page.text
    with closing(console.connection()) as conn:
        assert CommandStore(conn).recent(5) == []


def test_blocks_go_to_the_ticked_branches_only(console) -> None:
    client = signed_in(console, "mia")
    token = csrf_of(client.get("/send/blocks").text)
    text = "P0001; 2026-12-31; damaged books\nP0002;; threatening staff"
    response = client.post(
        "/send/blocks",
        data={"csrf_token": token, "blocks": text, "branch": ["emmen"]},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with closing(console.connection()) as conn:
        command = CommandStore(conn).recent(1)[0]
        assert command.body == {
            "blocks": [
                {"patron": "P0001", "reason": "damaged books", "until": "2026-12-31"},
                {"patron": "P0002", "reason": "threatening staff", "until": None},
            ]
        }
        assert [t.branch for t in CommandStore(conn).targets(command.id)] == ["emmen"]


@pytest.mark.parametrize(
    ("blocks", "branches", "problem"),
    [
        ("P1; someday; x", ["emmen"], "is not YYYY-MM-DD"),
        ("P1;;x\nP1;;y", ["emmen"], "listed twice"),
        ("\n".join(f"P{n};;" for n in range(MAX_BLOCKS + 1)), ["emmen"], f"at most {MAX_BLOCKS}"),
        ("P1;;x", [], "choose at least one branch"),
        ("P1;;x", ["../etc"], "not a branch id"),
        ("P1;;x", [f"b{n}" for n in range(MAX_TARGETS + 1)], f"at most {MAX_TARGETS}"),
    ],
)
def test_a_bad_block_list_or_target_is_refused_by_name(
    console, blocks: str, branches: list[str], problem: str
) -> None:
    client = signed_in(console, "mia")
    token = csrf_of(client.get("/send/blocks").text)
    page = client.post("/send/blocks", data={"csrf_token": token, "blocks": blocks, "branch": branches})
    assert page.status_code == 422 and problem in page.text


def test_roles_and_the_csrf_token_guard_the_pages(console) -> None:
    security = signed_in(console, "sam")
    assert security.get("/send/schedule").status_code == 403
    token = csrf_of(security.get("/overview").text)
    refused = security.post("/send/blocks", data={"csrf_token": token, "blocks": "P1;;x", "all": "1"})
    assert refused.status_code == 403
    manager = signed_in(console, "mia")
    assert manager.get("/log").status_code == 403
    assert manager.post("/send/blocks", data={"blocks": "P1;;x", "all": "1"}).status_code == 403  # no token
    assert manager.post("/alerts/close", data={"csrf_token": token, "alert": "emmen/9"}).status_code == 403
    assert signed_in(console, "ada").get("/send/schedule").status_code == 200  # admin: everything
    anonymous = signed_in(console, "sam")
    anonymous.cookies.clear()
    assert anonymous.get("/overview", follow_redirects=False).headers["location"].startswith("/signin")
    assert manager.get("/commands/" + "0" * 32).status_code == 404
    assert manager.get("/commands/nothex").status_code == 404


def test_a_malformed_message_shows_in_the_overview_count(console) -> None:
    assert take_in(console, [("assen", "events", b"{not json")]) == ["malformed:not_json"]
    page = signed_in(console, "sam").get("/overview").text
    assert re.search(r'id="malformed">1 malformed', page)
    assert f"{PREFIX}/assen/events" not in page and "not json" not in page  # no topic or payload


def test_an_oversized_form_is_refused_before_any_page_code_runs(console) -> None:
    client = signed_in(console, "mia")
    token = csrf_of(client.get("/send/blocks").text)
    many = client.post(
        "/send/blocks",
        data={"csrf_token": token, "blocks": "P1;;x", "branch": [f"b{n}" for n in range(1200)]},
    )
    assert many.status_code == 400 and "Request refused" in many.text  # Starlette's 1000 fields
    huge = client.post(
        "/send/blocks",
        content=b"x" * (2 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    with closing(console.connection()) as conn:
        assert CommandStore(conn).recent(5) == []
