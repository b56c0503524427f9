"""Users and tokens: argon2id passwords, SHA-256 token digests, the last admin, audit events."""

from __future__ import annotations

import hashlib
from contextlib import closing
from pathlib import Path

import pytest

from controller.services.login_throttle import USERNAME_FAILURES
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import create_user, user_admin
from controller.services.users import UNKNOWN_USER, UserError, UserInputError
from tests.api.api_support import CHEAP_PASSWORDS, PASSWORD, Api, events_of


def database_bytes(runtime: Runtime) -> bytes:
    """The database file and its write-ahead log, as a thief copying the directory gets them."""
    path = Path(runtime.db.path)
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def test_tokens_and_passwords_are_stored_only_as_hashes(api: Api, runtime: Runtime) -> None:
    created = api.client.post(
        "/api/v1/tokens", headers=api.auth("admin"), json={"username": "manny", "label": "kiosk"}
    ).json()
    login = api.client.post("/api/v1/auth/token", json={"username": "sec", "password": PASSWORD}).json()
    secrets = [created["token"], login["access_token"], *api.tokens.values()]
    stored = database_bytes(runtime)
    for secret in secrets:
        assert secret.startswith("opd_") and len(secret) > 40
        assert secret.encode() not in stored
        assert hashlib.sha256(secret.encode()).digest() in stored
    assert PASSWORD.encode() not in stored
    with closing(runtime.connection()) as conn:
        hashes = [row[0] for row in conn.execute("SELECT password_hash FROM users")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    listed = api.client.get("/api/v1/tokens?username=manny", headers=api.auth("admin")).json()
    assert [t["label"] for t in listed] == ["tests", "kiosk"]
    assert created["token"] not in str(listed)
    assert created["info"]["expires_at"]["local"] == "2027-02-23T21:30:00+01:00"  # 90 days


def test_user_lifecycle_is_audited_with_the_admin_named(api: Api, runtime: Runtime) -> None:
    headers = api.auth("admin")
    made = api.client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "anna.b", "password": "a long passphrase", "roles": ["manager"]},
    )
    assert made.status_code == 201 and made.json()["roles"] == ["manager"]
    assert "a long passphrase" not in made.text
    api.client.put("/api/v1/users/anna.b/roles", headers=headers, json={"roles": ["security"]})
    api.client.put("/api/v1/users/anna.b/password", headers=headers, json={"password": "another passphrase"})
    api.client.post("/api/v1/users/anna.b/disable", headers=headers)
    token = api.client.post(
        "/api/v1/tokens", headers=headers, json={"username": "anna.b", "label": "x", "expires_in_days": None}
    ).json()
    assert token["info"]["expires_at"] is None
    api.client.delete(f"/api/v1/tokens/{token['info']['id']}", headers=headers)
    audit = events_of(runtime, "actor = 'api:admin'")
    assert [e["reason"] for e in audit] == [
        "user created",
        "user roles set",
        "user password reset",
        "user disabled",
        "token created",
        "token revoked",
    ]
    assert all(e["type"] == "admin_change" for e in audit)
    assert "passphrase" not in repr(audit)
    names = [u["username"] for u in api.client.get("/api/v1/users", headers=headers).json()]
    assert names == ["admin", "anna.b", "manny", "sec"]


def test_a_password_reset_ends_that_users_tokens(api: Api) -> None:
    login = api.client.post("/api/v1/auth/token", json={"username": "manny", "password": PASSWORD})
    session = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert api.client.get("/api/v1/mode", headers=session).status_code == 200
    api.client.put(
        "/api/v1/users/manny/password", headers=api.auth("admin"), json={"password": "a brand new one"}
    )
    assert api.client.get("/api/v1/mode", headers=session).status_code == 401
    assert api.client.get("/api/v1/mode", headers=api.auth("manny")).status_code == 401  # all
    assert api.client.get("/api/v1/mode", headers=api.auth("admin")).status_code == 200  # others
    assert (
        api.client.post("/api/v1/auth/token", json={"username": "manny", "password": PASSWORD}).status_code
        == 401
    )


def test_the_last_enabled_admin_cannot_be_removed(api: Api) -> None:
    headers = api.auth("admin")
    for response in (
        api.client.put("/api/v1/users/admin/roles", headers=headers, json={"roles": ["manager"]}),
        api.client.post("/api/v1/users/admin/disable", headers=headers),
    ):
        assert response.status_code == 409
        assert "last enabled admin" in response.json()["detail"]
    api.client.put("/api/v1/users/manny/roles", headers=headers, json={"roles": ["admin"]})
    assert api.client.post("/api/v1/users/admin/disable", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "body, status",
    [
        ({"username": "admin", "password": "long enough!", "roles": ["manager"]}, 409),
        ({"username": "Bad Name", "password": "long enough!", "roles": ["manager"]}, 422),
        ({"username": "ok.name", "password": "short", "roles": ["manager"]}, 422),
        ({"username": "ok.name", "password": "long enough!", "roles": ["boss"]}, 422),
        ({"username": "ok.name", "password": "long enough!", "roles": []}, 422),
    ],
)
def test_bad_users_are_refused(api: Api, body: dict, status: int) -> None:
    response = api.client.post("/api/v1/users", headers=api.auth("admin"), json=body)
    assert response.status_code == status, response.text
    assert body["password"] not in response.text


def test_unknown_users_and_tokens_are_404(api: Api) -> None:
    headers = api.auth("admin")
    assert api.client.get("/api/v1/users/ghost", headers=headers).status_code == 404
    assert api.client.post("/api/v1/users/ghost/disable", headers=headers).status_code == 404
    assert (
        api.client.post(
            "/api/v1/tokens", headers=headers, json={"username": "ghost", "label": "x"}
        ).status_code
        == 404
    )
    assert api.client.delete("/api/v1/tokens/999", headers=headers).status_code == 404


def test_create_user_for_the_cli(runtime: Runtime) -> None:
    cheap = Passwords(CHEAP_PASSWORDS)
    user = create_user(runtime, "first.admin", "a sturdy passphrase", ["admin"], "cli:root", cheap)
    assert user.username == "first.admin" and user.roles == {"admin"}
    with pytest.raises(UserError):
        create_user(runtime, "first.admin", "a sturdy passphrase", ["admin"], "cli:root", cheap)
    with pytest.raises(UserInputError, match="unknown role"):
        create_user(runtime, "second", "a sturdy passphrase", ["root"], "cli:root", cheap)
    assert [e["actor"] for e in events_of(runtime, "reason = 'user created'")] == ["cli:root"]


def test_a_refused_sign_in_stores_an_unknown_username_only_as_a_marker(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    typed = "Winter2026!secret"  # a password typed into the username box
    for _ in range(USERNAME_FAILURES):
        assert (
            api.client.post(
                "/api/v1/auth/token", json={"username": typed, "password": "anything at all"}
            ).status_code
            == 401
        )
    for _ in range(USERNAME_FAILURES):
        api.client.post("/api/v1/auth/token", json={"username": "manny", "password": "wrong one!"})
    paused = events_of(api.services.runtime, "type = 'sign_in_paused'")
    assert [event["actor"] for event in paused] == [f"api:{UNKNOWN_USER}", "api:manny"]
    assert typed not in caplog.text and UNKNOWN_USER in caplog.text and "'manny'" in caplog.text
    assert typed.encode() not in database_bytes(api.services.runtime)


@pytest.mark.parametrize("label", ["door\x00display", "evil\u202eexe.txt", "\ufeffdisplay"])
def test_a_token_label_with_control_or_bidi_characters_is_refused(api: Api, label: str) -> None:
    response = api.client.post(
        "/api/v1/tokens", headers=api.auth("admin"), json={"username": "sec", "label": label}
    )
    assert response.status_code == 422
    assert "label" in response.text and "not allowed" in response.text
    with closing(api.services.runtime.connection()) as conn:
        with pytest.raises(UserInputError, match="label"):  # the same rule for pages and CLI
            user_admin(api.services.runtime, conn, api.services.passwords).create_token(
                "sec", label, "test:cli", None
            )
    assert [t["label"] for t in api.client.get("/api/v1/tokens", headers=api.auth("admin")).json()] == [
        "tests"
    ] * 3
