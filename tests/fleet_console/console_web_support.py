"""A console with users and a few branches' messages taken in (no broker: straight through the
ingest), and a signed-in TestClient, for the console's page tests."""

from __future__ import annotations

import json
import re
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from controller.services.fleet.messages import heartbeat_message, offline_message
from fleet_console.service.ingest import Ingest
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.web.app import create_console_app
from tests.conftest import FakeClock
from tests.fleet_console.conftest import NOW, PREFIX, open_console

PASSWORD = "correct horse battery"
USERS = {"mia": "manager", "sam": "security", "ada": "admin"}
BRANCHES = ("assen", "emmen", "meppel")


def event(
    branch: str, n: int, type_: str = "access_granted", minutes_ago: int = 0, **more: Any
) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"{branch}/{n}",
        "branch": branch,
        "event_id": n,
        "at": (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z"),
        "type": type_,
        "door": "front",
        "reason": "member",
        "member": f"m{n:04d}",
        "card_hint": "…1234",
        "detail": None,
        **more,
    }


def state(branch: str, mode: str = "openplus", door: str = "closed", alarms: list[str] | None = None) -> dict:
    return {
        "v": 1,
        "branch": branch,
        "state": "online",
        "version": "0.1.0",
        "last_lms_contact": None,
        "mode": mode,
        "door": door,
        "alarms": alarms or [],
        "occupancy": 2,
    }


def take_in(console: ConsoleRuntime, messages: list[tuple[str, str, dict[str, Any] | bytes]]) -> list[str]:
    with closing(console.connection()) as conn:
        ingest = Ingest(conn, PREFIX, console.clock)
        return [
            ingest.handle(
                f"{PREFIX}/{branch}/{leaf}", body if isinstance(body, bytes) else json.dumps(body).encode()
            )
            for branch, leaf, body in messages
        ]


def fleet_day() -> list[tuple[str, str, dict[str, Any] | bytes]]:
    """Three branches: two online (one with a forced door), one offline; entries, an alert."""
    messages: list[tuple[str, str, dict[str, Any] | bytes]] = [
        ("assen", "state", state("assen")),
        ("emmen", "state", state("emmen", mode="staffed", door="open", alarms=["forced"])),
        ("meppel", "state", offline_message("meppel")),
        ("assen", "heartbeat", heartbeat_message("assen", NOW, 0)),
        ("emmen", "heartbeat", heartbeat_message("emmen", NOW - timedelta(minutes=1), 3)),
        ("meppel", "heartbeat", heartbeat_message("meppel", NOW - timedelta(hours=3), 12)),
    ]
    for n in range(1, 8):
        messages.append(("assen", "events", event("assen", n, minutes_ago=5 * n)))
    for n in range(1, 4):
        messages.append(("emmen", "events", event("emmen", n, minutes_ago=7 * n)))
    messages.append(("emmen", "events", event("emmen", 9, "door_forced", minutes_ago=2, reason=None)))
    messages.append(("meppel", "events", event("meppel", 1, minutes_ago=200)))
    return messages


def new_console(tmp_path: Path, clock: FakeClock, port: int | None = None) -> ConsoleRuntime:
    console = open_console(tmp_path, clock, port)
    with closing(console.connection()) as conn:
        for name, role in USERS.items():
            console.users(conn).create(name, PASSWORD, [role], "test:setup")
    return console


def signed_in(console: ConsoleRuntime, username: str) -> TestClient:
    client = TestClient(create_console_app(console), base_url="http://console.test")
    page = client.get("/signin")
    token = csrf_of(page.text)
    response = client.post(
        "/signin",
        data={"csrf_token": token, "username": username, "password": PASSWORD, "next": "/overview"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
