"""The [alerts] section: rules, quiet periods, rate limits and channels, refused by name when wrong."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from controller.config.alerts import AlertKind, Window
from controller.config.settings import ConfigError, Settings, parse_settings

EMAIL = {"host": "smtp.example.org", "sender": "deur@example.org", "recipients": ["sec@example.org"]}


def test_off_by_default_with_one_rule_for_every_kind() -> None:
    alerts = Settings().alerts
    assert not alerts.enabled
    assert alerts.rules[0].kinds == list(AlertKind) and alerts.configured_channels == ()


def test_a_full_section_is_read() -> None:
    settings = parse_settings(
        {
            "alerts": {
                "enabled": True,
                "quiet": ["12:00-13:00"],
                "min_interval_minutes": 10,
                "min_interval_by_kind": {"door_forced": 1},
                "rules": [
                    {
                        "kinds": ["door_forced"],
                        "modes": ["openplus"],
                        "hours": ["18:00-08:00"],
                        "channels": ["email"],
                    }
                ],
                "email": EMAIL,
                "webhook": {"url": "https://hooks.example.org/door", "secret": "s" * 32},
                "mqtt": {"host": "broker.example.org", "topic": "library/{door}/alerts"},
            }
        },
        "test",
    )
    alerts = settings.alerts
    assert alerts.configured_channels == ("email", "webhook", "mqtt")
    assert alerts.min_interval(AlertKind.DOOR_FORCED) == 1
    assert alerts.min_interval(AlertKind.LMS_LOST) == 10


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"rules": [{"channels": ["email"]}]}, "[alerts.email] is not set"),
        ({"quiet": ["25:00-01:00"]}, "not a period of the day"),
        ({"quiet": ["08:00-08:00"]}, "same time"),
        ({"rules": [{"kinds": ["door_exploded"]}]}, "alerts.rules.0.kinds.0"),
        ({"webhook": {"url": "https://x.example", "secret": "short"}}, "alerts.webhook.secret"),
        ({"webhook": {"url": "ftp://x.example/a", "secret": "s" * 20}}, "alerts.webhook.url"),
        ({"mqtt": {"host": "b", "topic": "a/#"}}, "wildcards"),
        ({"email": {**EMAIL, "username": "u"}}, "username and password go together"),
        ({"email": {**EMAIL, "username": "u", "password": "p", "starttls": False}}, "needs starttls"),
        ({"surprise": 1}, "alerts.surprise: unknown key"),
    ],
)
def test_bad_settings_are_refused_by_name(section: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_settings({"alerts": section}, "test")
    assert named in str(refused.value)


def test_a_period_may_span_midnight() -> None:
    night = Window.parse("22:00-06:00")
    assert night.contains(time(23, 0)) and night.contains(time(5, 59))
    assert not night.contains(time(6, 0)) and not night.contains(time(12, 0))
    assert Window.parse("09:00-17:00").contains(time(9, 0))
