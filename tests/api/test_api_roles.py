"""Who may call what: every route in the app, with no token, the wrong role and the right one."""

from __future__ import annotations

import re

import pytest

from controller.app import API_PREFIX
from controller.services.login_throttle import USERNAME_FAILURES
from tests.api.api_support import PASSWORD, Api, events_of

# Route prefix -> who may call it: "open", "any" (any valid token) or a role. Longest match wins.
ROUTE_ACCESS = {
    "/health": "open",
    "/auth/token": "open",
    "/auth/me": "any",
    "/schedule": "manager",
    "/mode": "manager",
    "/members": "manager",
    "/events": "security",
    "/door": "security",
    "/footage": "security",
    "/lms": "security",
    "/alerts": "security",
    "/outputs": "manager",
    "/metrics": "security",  # at the root, not under /api/v1 (or a [metrics] allow_from address)
    "/users": "admin",
    "/tokens": "admin",
}
USER_WITH = {"manager": "manny", "security": "sec", "admin": "admin"}


def access_of(path: str) -> str:
    relative = path.removeprefix(API_PREFIX)
    matches = [prefix for prefix in ROUTE_ACCESS if relative == prefix or relative.startswith(prefix + "/")]
    assert matches, f"{path} is missing from ROUTE_ACCESS: decide who may call it"
    return ROUTE_ACCESS[max(matches, key=len)]


def every_operation(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its own OpenAPI document (no route is hidden)."""
    operations = []
    for template, methods in api.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        path = re.sub(r"\{token_id\}", "999999", template)
        path = re.sub(r"\{[a-z_]+\}", "nobody-here", path)
        operations += [(method.upper(), path) for method in sorted(methods)]
    return operations


def test_every_route_is_in_the_access_table(api: Api) -> None:
    operations = every_operation(api)
    assert len(operations) >= 25
    for _, path in operations:
        access_of(path)  # fails for a route nobody decided about


def test_no_token_is_401_except_the_open_routes(api: Api) -> None:
    for method, path in every_operation(api):
        response = api.client.request(method, path)
        if access_of(path) == "open":
            assert response.status_code not in (401, 403), (method, path)
        else:
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"] == "bearer token required"


def test_a_token_nobody_issued_is_401(api: Api) -> None:
    response = api.client.get("/api/v1/mode", headers={"Authorization": "Bearer opd_madeup"})
    assert response.status_code == 401
    assert "unknown or expired" in response.json()["detail"]


def test_wrong_role_is_403_and_right_role_passes(api: Api) -> None:
    checked = 0
    for method, path in every_operation(api):
        access = access_of(path)
        if access in ("open", "any"):
            continue
        allowed = {USER_WITH[access], "admin"}
        for user in ("admin", "manny", "sec"):
            status = api.client.request(method, path, headers=api.auth(user)).status_code
            if user in allowed:
                assert status not in (401, 403), (user, method, path, status)
            else:
                assert status == 403, (user, method, path, status)
            checked += 1
    assert checked >= 60


def test_health_is_open_and_says_little(api: Api) -> None:
    body = api.client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["reason"] is None
    assert body["door_last_turn_seconds"] == 0.1
    assert body["problems"] == []
    assert set(body) == {"status", "reason", "problems", "door_last_turn_seconds", "schema_version", "time"}


def test_health_is_degraded_when_the_door_is_late_and_down_when_gone_both_200(api: Api) -> None:
    api.door.last_turn_age = 7.25
    late = api.client.get("/api/v1/health")
    assert late.status_code == 200
    assert late.json()["status"] == "degraded"
    assert late.json()["reason"] == "the door loop last turned 7.2 s ago"
    assert late.json()["problems"] == [
        {"name": "door_loop_late", "detail": "the door loop last turned 7.2 s ago"}
    ]
    api.door.running = False
    gone = api.client.get("/api/v1/health")
    assert gone.status_code == 200
    assert gone.json()["status"] == "down" and gone.json()["reason"] == "the door is not running"
    assert [p["name"] for p in gone.json()["problems"]] == ["door_unreachable"]
    assert gone.json()["door_last_turn_seconds"] is None


def test_any_valid_token_may_ask_who_it_is(api: Api) -> None:
    me = api.client.get("/api/v1/auth/me", headers=api.auth("sec")).json()
    assert me["username"] == "sec"
    assert me["roles"] == ["security"] and me["effective_roles"] == ["security"]
    admin = api.client.get("/api/v1/auth/me", headers=api.auth("admin")).json()
    assert admin["effective_roles"] == ["admin", "manager", "security"]


def test_login_by_json_and_by_form_gives_a_12_hour_token(api: Api, clock) -> None:
    by_json = api.client.post("/api/v1/auth/token", json={"username": "manny", "password": PASSWORD})
    by_form = api.client.post("/api/v1/auth/token", data={"username": "manny", "password": PASSWORD})
    for response in (by_json, by_form):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_at"]["utc"] == "2026-11-26T08:30:00Z"  # clock + 12 h
        assert body["expires_at"]["local"] == "2026-11-26T09:30:00+01:00"
    headers = {"Authorization": f"Bearer {by_json.json()['access_token']}"}
    assert api.client.get("/api/v1/mode", headers=headers).status_code == 200
    clock.advance(hours=12)
    assert api.client.get("/api/v1/mode", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "manny", "password": "wrong password!"},
        {"username": "ghost", "password": PASSWORD},
    ],
)
def test_login_refused_without_saying_which_part_was_wrong(api: Api, credentials) -> None:
    response = api.client.post("/api/v1/auth/token", json=credentials)
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong username or password"
    assert credentials["password"] not in response.text


def test_guessing_passwords_pauses_the_login_for_that_name_and_leaves_an_alarm(api: Api, clock) -> None:
    wrong = {"username": "manny", "password": "guess number x"}
    for _ in range(USERNAME_FAILURES):
        assert api.client.post("/api/v1/auth/token", json=wrong).status_code == 401
    right = {"username": "manny", "password": PASSWORD}
    paused = api.client.post("/api/v1/auth/token", json=right)
    assert paused.status_code == 429  # even the right password waits: the pause is not an oracle
    assert paused.headers["Retry-After"] == "30"
    assert (
        api.client.post("/api/v1/auth/token", json={"username": "sec", "password": PASSWORD}).status_code
        == 200
    )
    [event] = events_of(api.services.runtime, "type = 'sign_in_paused'")
    assert event["actor"] == "api:manny" and "address=testclient" in event["detail"]
    assert "guess" not in str(event)
    clock.advance(seconds=30)
    assert api.client.post("/api/v1/auth/token", json=right).status_code == 200


def test_login_bad_bodies_are_4xx(api: Api) -> None:
    assert (
        api.client.post(
            "/api/v1/auth/token", content=b"{", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )
    assert api.client.post("/api/v1/auth/token", json=["manny"]).status_code == 422
    assert (
        api.client.post(
            "/api/v1/auth/token", content=b"x", headers={"Content-Type": "text/plain"}
        ).status_code
        == 415
    )


def test_disabled_user_and_revoked_token_stop_working_at_once(api: Api) -> None:
    created = api.client.post(
        "/api/v1/tokens", headers=api.auth("admin"), json={"username": "sec", "label": "wall display"}
    ).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert api.client.get("/api/v1/door", headers=headers).status_code == 200
    revoked = api.client.delete(f"/api/v1/tokens/{created['info']['id']}", headers=api.auth("admin"))
    assert revoked.status_code == 200
    assert api.client.get("/api/v1/door", headers=headers).status_code == 401
    assert api.client.get("/api/v1/door", headers=api.auth("sec")).status_code == 200
    api.client.post("/api/v1/users/sec/disable", headers=api.auth("admin"))
    assert api.client.get("/api/v1/door", headers=api.auth("sec")).status_code == 401
    api.client.post("/api/v1/users/sec/enable", headers=api.auth("admin"))
    assert api.client.get("/api/v1/door", headers=api.auth("sec")).status_code == 401  # ended
    login = api.client.post("/api/v1/auth/token", json={"username": "sec", "password": PASSWORD})
    assert (
        api.client.get(
            "/api/v1/door", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        ).status_code
        == 200
    )


def test_roles_change_what_a_token_may_do(api: Api) -> None:
    assert api.client.get("/api/v1/events", headers=api.auth("manny")).status_code == 403
    response = api.client.put(
        "/api/v1/users/manny/roles", headers=api.auth("admin"), json={"roles": ["manager", "security"]}
    )
    assert response.json()["roles"] == ["manager", "security"]
    assert api.client.get("/api/v1/events", headers=api.auth("manny")).status_code == 200
