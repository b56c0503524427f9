"""Sessions, CSRF and roles of the web pages, through TestClient (no browser needed)."""

from __future__ import annotations

from contextlib import closing

import pytest
from fastapi.testclient import TestClient

from controller.services.login_throttle import USERNAME_FAILURES
from controller.services.runtime import Runtime
from controller.store.schedule import ScheduleStore
from controller.web.sessions import SESSION_COOKIE, SESSION_IDLE, SESSION_MAX
from tests.api.api_support import PASSWORD, Api, events_of
from tests.conftest import FakeClock
from tests.web.web_support import csrf_of, sign_in

# Page -> the role it needs (None: anyone signed in; "a|b": either). Every GET page of the web app.
PAGES = {
    "/today": None,
    "/today/status.json": None,
    "/schedule": "manager",
    "/members": "manager|security",  # security reads who is blocked and why
    "/entries": "security",
    "/entries/export.csv": "security",
    "/users": "admin",
}
ROLE_OF = {"manny": "manager", "sec": "security", "admin": "admin"}


def allowed(user: str, role: str | None) -> bool:
    return role is None or ROLE_OF[user] in (*role.split("|"), "admin")


def test_sign_in_sets_a_http_only_lax_session_cookie_not_secure_over_http(web: Api) -> None:
    token = csrf_of(web.client.get("/signin").text)
    response = web.client.post(
        "/signin",
        data={"username": "manny", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/today"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_over_https(web: Api) -> None:
    client = TestClient(web.client.app, base_url="https://testserver")
    token = csrf_of(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"username": "manny", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_wrong_password_is_refused_without_a_session(web: Api) -> None:
    token = csrf_of(web.client.get("/signin").text)
    response = web.client.post(
        "/signin",
        data={"username": "manny", "password": "not it at all", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "onjuist" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert web.client.get("/today", follow_redirects=False).status_code == 303


def test_guessing_on_the_page_pauses_the_api_login_too(web: Api, clock: FakeClock) -> None:
    for _ in range(USERNAME_FAILURES):
        token = csrf_of(web.client.get("/signin").text)
        web.client.post(
            "/signin", data={"username": "manny", "password": "a wrong guess", "csrf_token": token}
        )
    token = csrf_of(web.client.get("/signin").text)
    response = web.client.post(
        "/signin",
        data={"username": "manny", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 429
    assert "Te veel onjuiste pogingen. Wacht 1 min." in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert (
        web.client.post("/api/v1/auth/token", json={"username": "manny", "password": PASSWORD}).status_code
        == 429
    )  # one throttle for both doors in
    clock.advance(seconds=30)
    sign_in(web.client, "manny")
    sign_in(web.client, "sec")
    assert "Aanmelden gepauzeerd" in web.client.get("/today").text  # in security's last alarms


def test_sign_in_form_without_its_token_is_refused(web: Api) -> None:
    web.client.get("/signin")  # has the sign-in cookie, but the field is missing
    response = web.client.post(
        "/signin", data={"username": "manny", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_next_after_sign_in_stays_on_this_site(web: Api) -> None:
    token = csrf_of(web.client.get("/signin").text)
    response = web.client.post(
        "/signin",
        data={"username": "manny", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/today"


def test_a_page_without_a_session_redirects_to_sign_in_and_back(web: Api) -> None:
    response = web.client.get("/schedule?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fschedule%3Fx%3D1"
    assert web.client.get("/today/status.json").status_code == 401


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(
    web: Api, runtime: Runtime, token: str | None
) -> None:
    sign_in(web.client, "manny")
    form = {"action": "save", "monday-0-start": "09:00", "monday-0-end": "17:00", "monday-0-kind": "staffed"}
    if token is not None:
        form["csrf_token"] = token
    response = web.client.post("/schedule", data=form)
    assert response.status_code == 403
    assert "Formulier verlopen" in response.text
    with closing(runtime.connection()) as conn:
        assert ScheduleStore(conn).load().is_default
    assert web.schedule_changes == []


def test_a_token_of_another_session_is_refused(web: Api) -> None:
    other = TestClient(web.client.app)
    other_token = sign_in(other, "admin")
    sign_in(web.client, "manny")
    response = web.client.post("/members/block", data={"patron_id": "P1", "csrf_token": other_token})
    assert response.status_code == 403


def test_sign_out_ends_the_session_on_the_server(web: Api) -> None:
    token = sign_in(web.client, "manny")
    secret = web.client.cookies.get(SESSION_COOKIE)
    response = web.client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?out=1"
    replay = TestClient(web.client.app, cookies={SESSION_COOKIE: secret})
    assert replay.get("/today", follow_redirects=False).status_code == 303


def test_sign_out_needs_the_token_too(web: Api) -> None:
    sign_in(web.client, "manny")
    assert web.client.post("/signout", data={}).status_code == 403
    assert web.client.get("/today", follow_redirects=False).status_code == 200


def test_an_idle_session_expires(web: Api, clock: FakeClock) -> None:
    sign_in(web.client, "manny")
    clock.advance(seconds=SESSION_IDLE.total_seconds() - 60)
    assert web.client.get("/today", follow_redirects=False).status_code == 200
    clock.advance(seconds=SESSION_IDLE.total_seconds() + 1)
    assert web.client.get("/today", follow_redirects=False).status_code == 303


def test_an_active_session_still_ends_after_its_maximum(web: Api, clock: FakeClock) -> None:
    sign_in(web.client, "manny")
    step = SESSION_IDLE / 2
    for _ in range(int(SESSION_MAX / step) - 1):
        clock.advance(seconds=step.total_seconds())
        assert web.client.get("/today", follow_redirects=False).status_code == 200
    clock.advance(seconds=step.total_seconds())
    assert web.client.get("/today", follow_redirects=False).status_code == 303


def test_disabling_a_user_ends_their_sessions(web: Api) -> None:
    manny = TestClient(web.client.app)
    sign_in(manny, "manny")
    token = sign_in(web.client, "admin")
    assert (
        web.client.post(
            "/users/disable", data={"username": "manny", "csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    assert manny.get("/today", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("user", sorted(ROLE_OF))
@pytest.mark.parametrize("path", sorted(PAGES))
def test_each_page_is_refused_to_roles_without_it(web: Api, user: str, path: str) -> None:
    sign_in(web.client, user)
    response = web.client.get(path, follow_redirects=False)
    if allowed(user, PAGES[path]):
        assert response.status_code == 200, response.text[:300]
    else:
        assert response.status_code == 403
        assert "Geen toegang" in response.text and PAGES[path] in response.text


@pytest.mark.parametrize(
    ("path", "role", "form"),
    [
        ("/schedule", "manager", {"action": "save"}),
        ("/members/block", "manager", {"patron_id": "P1"}),
        ("/members/flags", "manager", {"patron_id": "P1", "more_time": "yes"}),
        ("/members/pin", "manager", {"patron_id": "P1", "pin": "1234", "pin_again": "1234"}),
        ("/members/import/confirm", "manager", {"key": "x"}),
        ("/users/add", "admin", {"username": "eve", "password": "x" * 12, "password_again": "x" * 12}),
        ("/tokens/create", "admin", {"username": "sec", "label": "x"}),
        ("/tokens/revoke", "admin", {"token_id": "1"}),
    ],
)
def test_forms_are_refused_to_roles_without_them_even_with_a_valid_token(
    web: Api, path: str, role: str, form: dict[str, str]
) -> None:
    user = "sec" if role == "manager" else "manny"
    token = sign_in(web.client, user)
    assert web.client.post(path, data={**form, "csrf_token": token}).status_code == 403


def test_web_routes_stay_out_of_the_api_document(web: Api) -> None:
    """Pages are not API operations; /metrics is (a scraper's, where Prometheus looks)."""
    paths = web.client.get("/openapi.json").json()["paths"]
    assert [path for path in paths if not path.startswith("/api/v1/")] == ["/metrics"]


def _reset_through_the_api(web: Api) -> None:
    assert (
        web.client.put(
            "/api/v1/users/manny/password", headers=web.auth("admin"), json={"password": "a brand new one"}
        ).status_code
        == 200
    )


def _reset_on_the_page(web: Api) -> None:
    admin = TestClient(web.client.app)
    token = sign_in(admin, "admin")
    assert (
        admin.post(
            "/users/password",
            follow_redirects=False,
            data={
                "csrf_token": token,
                "username": "manny",
                "password": "a brand new one",
                "password_again": "a brand new one",
            },
        ).status_code
        == 303
    )


def _disable_through_the_api(web: Api) -> None:
    assert web.client.post("/api/v1/users/manny/disable", headers=web.auth("admin")).status_code == 200


@pytest.mark.parametrize("change", [_reset_through_the_api, _reset_on_the_page, _disable_through_the_api])
def test_a_reset_or_disable_ends_every_session_and_token_of_that_user(web: Api, change) -> None:
    manny = TestClient(web.client.app)
    sign_in(manny, "manny")
    login = web.client.post("/api/v1/auth/token", json={"username": "manny", "password": PASSWORD})
    bearers = [web.auth("manny"), {"Authorization": f"Bearer {login.json()['access_token']}"}]
    assert manny.get("/today", follow_redirects=False).status_code == 200
    change(web)
    assert manny.get("/today", follow_redirects=False).status_code == 303  # signed out
    for bearer in bearers:  # the admin-made token as well as the login token
        assert web.client.get("/api/v1/mode", headers=bearer).status_code == 401
    with closing(web.services.runtime.connection()) as conn:
        assert (
            conn.execute(
                "SELECT COUNT(*) FROM web_sessions s JOIN users u ON u.id = s.user_id "
                "WHERE u.username = 'manny'"
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute(
                "SELECT COUNT(*) FROM api_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE u.username = 'manny'"
            ).fetchone()[0]
            == 0
        )
    [audit] = events_of(
        web.services.runtime, "type = 'admin_change' AND reason IN ('user password reset', 'user disabled')"
    )
    assert "sessions_ended=1" in audit["detail"] and "tokens_ended=2" in audit["detail"]


def test_a_token_label_with_a_bidi_override_is_refused_on_the_page(web: Api) -> None:
    token = sign_in(web.client, "admin")
    response = web.client.post(
        "/tokens/create",
        data={"csrf_token": token, "username": "sec", "label": "evil\u202eexe.txt", "days": "90"},
    )
    assert response.status_code == 422
    assert "U+202E" in response.text
