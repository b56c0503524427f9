"""The wired door process: a forced door reaches the webhook from the alert service's threads."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config.settings import Settings, parse_settings
from tests.alerts.conftest import WEBHOOK_SECRET, WebhookPeer


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: WebhookPeer) -> Settings:
    """tests/conftest.py's settings with [alerts] on and the webhook receiver as channel."""
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    return parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "alerts": {"enabled": True, "webhook": {"url": webhook.url, "secret": WEBHOOK_SECRET}},
        },
        "test",
    )


def test_a_forced_door_is_sent_by_the_running_branch(live_branch, webhook: WebhookPeer) -> None:
    sim, service = live_branch
    assert service.alerts is not None
    sim.open_door()  # no grant, no exit request: forced
    hook = webhook.received.wait_for(1)[0]
    assert (hook["kind"], hook["door"]) == ("door_forced", service.settings.branch.door)
    assert "Door forced" in hook["text_en"]


def test_the_alert_queue_length_is_a_door_gauge(live_branch, webhook: WebhookPeer) -> None:
    sim, service = live_branch
    sim.open_door()
    webhook.received.wait_for(1)  # the watch counted the queue before it woke the sender
    gauge = service.metrics_report()["gauges"]["alert_queue_length"]
    assert gauge["value"] in (0.0, 1.0) and "waiting" in gauge["help"]
