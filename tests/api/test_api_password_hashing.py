"""Password hashing: a bound on concurrent hashes (503 + Retry-After when every slot is taken)
and argon2id parameters sized for a Raspberry Pi, with older hashes replaced at sign-in."""

from __future__ import annotations

from contextlib import closing

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from controller.services.passwords import (
    BUSY_RETRY_AFTER_SECONDS,
    PASSWORD_MEMORY_KIB,
    PASSWORD_PARALLELISM,
    PASSWORD_TIME_COST,
    Passwords,
)
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from controller.store.users import UserStore
from tests.api.api_support import CHEAP_PASSWORDS, PASSWORD, Api, build_api
from tests.web.web_support import csrf_of, sign_in

LOGIN = {"username": "manny", "password": PASSWORD}


@pytest.fixture
def one_slot(runtime: Runtime) -> Api:
    """The app with one hash slot and no waiting for it, so a held slot means 'busy' at once."""
    return build_api(runtime, Passwords(CHEAP_PASSWORDS, slots=1, wait_seconds=0))


def test_with_every_hash_slot_taken_the_api_answers_503_with_retry_after(one_slot: Api) -> None:
    client, admin = one_slot.client, one_slot.auth("admin")
    with one_slot.services.passwords.slot():  # another request is hashing
        for response in (
            client.post("/api/v1/auth/token", json=LOGIN),
            client.post("/api/v1/auth/token", json={"username": "ghost", "password": "x" * 12}),
            client.post(
                "/api/v1/users",
                headers=admin,
                json={"username": "anna.b", "password": "long enough pw", "roles": ["manager"]},
            ),
            client.put("/api/v1/users/manny/password", headers=admin, json={"password": "a brand new one"}),
        ):
            assert response.status_code == 503
            assert response.headers["Retry-After"] == str(BUSY_RETRY_AFTER_SECONDS)
            assert "try again" in response.json()["detail"]
    assert client.post("/api/v1/auth/token", json=LOGIN).status_code == 200  # nothing changed
    assert client.get("/api/v1/users/anna.b", headers=admin).status_code == 404


def test_busy_answers_are_not_counted_as_wrong_passwords(one_slot: Api) -> None:
    with one_slot.services.passwords.slot():
        for _ in range(30):  # more than both throttle limits
            assert one_slot.client.post("/api/v1/auth/token", json=LOGIN).status_code == 503
    assert one_slot.client.post("/api/v1/auth/token", json=LOGIN).status_code == 200


def test_with_every_hash_slot_taken_the_pages_say_busy(one_slot: Api) -> None:
    admin = TestClient(one_slot.client.app)
    token = sign_in(admin, "admin")
    signin_token = csrf_of(one_slot.client.get("/signin").text)
    with one_slot.services.passwords.slot():
        responses = [
            one_slot.client.post(
                "/signin",
                follow_redirects=False,
                data={"username": "manny", "password": PASSWORD, "csrf_token": signin_token},
            ),
            admin.post(
                "/users/password",
                follow_redirects=False,
                data={
                    "csrf_token": token,
                    "username": "manny",
                    "password": "a brand new one",
                    "password_again": "a brand new one",
                },
            ),
        ]
    for response in responses:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(BUSY_RETRY_AFTER_SECONDS)
        assert "Even geduld" in response.text and f"over {BUSY_RETRY_AFTER_SECONDS} seconden" in response.text


def test_the_default_parameters_are_the_ones_the_readme_states() -> None:
    stored = Passwords().hash(PASSWORD)
    assert stored.startswith(
        f"$argon2id$v=19$m={PASSWORD_MEMORY_KIB},t={PASSWORD_TIME_COST},p={PASSWORD_PARALLELISM}$"
    )
    assert (PASSWORD_MEMORY_KIB, PASSWORD_TIME_COST, PASSWORD_PARALLELISM) == (19 * 1024, 2, 1)


def test_a_hash_with_older_parameters_still_verifies_and_is_replaced_at_sign_in(runtime: Runtime) -> None:
    old = PasswordHasher(time_cost=3, memory_cost=8 * 1024, parallelism=4)  # other parameters
    with closing(runtime.connection()) as conn:
        user_admin(runtime, conn, Passwords(old)).create("anna.b", PASSWORD, ["manager"], "test")
    api = build_api(runtime, Passwords())  # today's parameters
    assert (
        api.client.post("/api/v1/auth/token", json={"username": "anna.b", "password": PASSWORD}).status_code
        == 200
    )
    with closing(runtime.connection()) as conn:
        stored = UserStore(conn).get("anna.b").password_hash  # type: ignore[union-attr]
    assert stored.startswith(f"$argon2id$v=19$m={PASSWORD_MEMORY_KIB},t={PASSWORD_TIME_COST},p=1$")
    assert Passwords().verify(stored, PASSWORD)
