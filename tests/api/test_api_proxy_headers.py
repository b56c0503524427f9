"""X-Forwarded-For is believed only from the proxies listed in `[web] trusted_proxies`.

Driven through the app as uvicorn wraps it (`uvicorn.Config(...).load()` with the options
`openplus-door web` passes), from a client at 127.0.0.1 like any local process."""

from __future__ import annotations

import pytest
import uvicorn
from fastapi.testclient import TestClient

from controller.cli.web import proxy_options
from controller.config.settings import ConfigError, parse_settings
from controller.services.login_throttle import LoginThrottle
from tests.api.api_support import Api, events_of


def served(api: Api, web_section: dict) -> TestClient:
    """The app wrapped as uvicorn serves it with this [web] section, seen from 127.0.0.1."""
    web = parse_settings({"web": web_section}, "test").web
    config = uvicorn.Config(api.client.app, log_config=None, **proxy_options(web))
    config.load()
    return TestClient(config.loaded_app, client=("127.0.0.1", 40000))


def wrong_login(client: TestClient, username: str, forwarded_for: str) -> int:
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": "not it!"},
        headers={"X-Forwarded-For": forwarded_for},
    ).status_code


@pytest.mark.parametrize(
    ("web_section", "counted_as", "second"),
    [
        ({}, "127.0.0.1", 429),  # default: the header is ignored, the next address is still paused
        ({"trusted_proxies": ["127.0.0.1"]}, "203.0.113.9", 401),
        ({"trusted_proxies": ["127.0.0.0/8", "::1"]}, "203.0.113.9", 401),
    ],
)
def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(
    api: Api, web_section: dict, counted_as: str, second: int
) -> None:
    api.services.login_throttle = LoginThrottle(address_failures=1)  # one wrong try per address
    client = served(api, web_section)
    assert wrong_login(client, "manny", "203.0.113.9") == 401
    [paused] = events_of(api.services.runtime, "type = 'sign_in_paused'")
    assert f"address={counted_as} " in paused["detail"]
    assert wrong_login(client, "sec", "203.0.113.10") == second  # a "new" address


def test_no_proxies_means_no_proxy_headers_at_all() -> None:
    assert proxy_options(parse_settings({}, "test").web) == {
        "proxy_headers": False,
        "forwarded_allow_ips": [],
    }


def test_a_trusted_proxy_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies\.0: "):
        parse_settings({"web": {"trusted_proxies": ["proxy.example"]}}, "test")
