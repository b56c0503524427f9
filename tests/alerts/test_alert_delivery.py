"""Alerts through real peers on loopback: every kind delivered once by email (STARTTLS and login),
webhook (HMAC checked) and MQTT (QoS 1), a channel down and back, and a restart in between."""

from __future__ import annotations

import threading
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from controller.config.alerts import AlertKind
from controller.services.alerts.sender import backoff
from controller.store.alerts import AlertStore
from tests.alerts.alert_support import (
    DOOR,
    KIND_EVENTS,
    NOT_ALERTS,
    alert_rows,
    open_db,
    pass_once,
    record,
    service,
    settings,
    waiting,
)
from tests.alerts.conftest import HANG_GUARD, SmtpPeer, WebhookPeer
from tests.conftest import FakeClock
from tests.mqtt_support import Broker


def raise_every_kind(tmp_path: Path, db, alerts, clock: FakeClock) -> None:
    """One event per kind (each in its own rate-limit slot), plus events that are no alert."""
    record(db, "service", "started", clock())  # a clean first start: no 'controller back'
    for kind, (event_type, reason) in KIND_EVENTS.items():
        record(db, event_type, reason, clock.advance(seconds=1), detail=f"test {kind.value}")
    for event_type, reason in NOT_ALERTS:
        record(db, event_type, reason, clock.advance(seconds=1))
    assert alerts.watch.check_loop()  # the door loop is late (loop_age says 9 s)
    record(db, "service", "started", clock.advance(seconds=1))  # no 'stopped' before: a crash


def test_each_kind_is_delivered_once_on_every_channel(
    tmp_path: Path, clock: FakeClock, smtp: SmtpPeer, webhook: WebhookPeer, broker: Broker
) -> None:
    db = open_db(tmp_path)
    late = settings(smtp, webhook, broker)
    with closing(db.connect()) as conn:
        from controller.store.events import EventLog

        recorder = EventLog(conn)
        alerts = service(db, late, clock, loop_age=lambda: 9.0, record=recorder.record)
        raise_every_kind(tmp_path, db, alerts, clock)
    every = set(AlertKind)
    assert pass_once(db, alerts) == 3 * len(every)
    assert pass_once(db, alerts) == 0  # once: nothing is sent again

    mails = smtp.mails.wait_for(len(every))
    assert {mail["X-OpenPlus-Alert"] for mail in mails} == {str(r.id) for r in alert_rows(db)}
    forced = next(m for m in mails if "Deur geforceerd" in m["Subject"])
    assert forced["Subject"] == f"[openplus-door {DOOR}] Deur geforceerd"
    assert "Door forced at door entrance" in forced.get_payload()
    hooks = webhook.received.wait_for(len(every))
    assert sorted(h["kind"] for h in hooks) == sorted(k.value for k in every)
    assert webhook.bad_signatures == 0
    published = broker.messages.wait_for(len(every))
    assert {topic for topic, _ in published} == {f"openplus-door/{DOOR}/alerts"}
    assert sorted(body["kind"] for _, body in published) == sorted(k.value for k in every)
    back = next(h for h in hooks if h["kind"] == "controller_back")
    assert back["detail"].startswith("silent since ")
    assert waiting(db) == 0


def test_same_kind_within_the_interval_folds_into_one_alert(
    tmp_path: Path, clock: FakeClock, webhook: WebhookPeer
) -> None:
    db = open_db(tmp_path)
    alerts = service(
        db,
        settings(webhook=webhook, min_interval_minutes=15, min_interval_by_kind={"reader_fault": 0}),
        clock,
    )
    first = clock()
    record(db, "door_forced", None, first)
    record(db, "door_forced", None, first + timedelta(minutes=1))
    record(db, "door_forced", None, first + timedelta(minutes=14))
    record(db, "door_forced", None, first + timedelta(minutes=16))  # a new slot
    record(db, "reader_fault", "error", first)  # no limit for this kind
    record(db, "reader_fault", "error", first + timedelta(seconds=1))
    assert pass_once(db, alerts) == 4
    forced = [row for row in alert_rows(db) if row.kind == "door_forced"]
    assert [row.repeats for row in forced] == [2, 0]
    assert sorted(h["kind"] for h in webhook.received.wait_for(4)) == [
        "door_forced",
        "door_forced",
        "reader_fault",
        "reader_fault",
    ]


def test_quiet_periods_and_rules_list_without_sending(
    tmp_path: Path, clock: FakeClock, webhook: WebhookPeer
) -> None:
    db = open_db(tmp_path)
    rules = [
        {"kinds": ["door_forced"], "hours": ["13:00-15:00"]},  # 14:00 branch time: matches
        {"kinds": ["lms_lost"], "modes": ["openplus"]},
    ]  # the door's mode is unknown here
    alerts = service(db, settings(webhook=webhook, rules=rules), clock)
    record(db, "door_forced", None, clock())
    record(db, "lms_link", "lms_lost", clock())
    record(db, "door_held_open", None, clock())  # no rule names it
    assert pass_once(db, alerts) == 1
    assert [(r.kind, r.sent) for r in alert_rows(db)] == [
        ("door_forced", True),
        ("lms_lost", False),
        ("door_held_open", False),
    ]

    quiet = service(db, settings(webhook=webhook, quiet=["14:30-15:30"]), clock)
    record(db, "door_forced", None, clock.advance(hours=1))
    assert pass_once(db, quiet) == 0
    assert alert_rows(db)[-1].sent is False


def test_a_channel_down_then_back_gets_its_alerts_after(
    tmp_path: Path, clock: FakeClock, smtp: SmtpPeer, webhook: WebhookPeer, broker: Broker
) -> None:
    db = open_db(tmp_path)
    alert_settings = settings(smtp, webhook, broker)
    alerts = service(db, alert_settings, clock)
    smtp.stop()
    webhook.failing = True
    broker.stop()
    record(db, "door_forced", None, clock())
    assert pass_once(db, alerts) == 0
    with closing(db.connect()) as conn:
        tries = AlertStore(conn).deliveries(alert_rows(db)[0].id)
    assert {name: (done, attempts) for name, (done, attempts, _) in tries.items()} == {
        "email": (False, 1),
        "webhook": (False, 1),
        "mqtt": (False, 1),
    }
    assert "503" in (tries["webhook"][2] or "")

    smtp.start()
    webhook.failing = False
    broker.start()
    broker.subscribe()
    assert pass_once(db, alerts) == 0  # not before the backoff has passed
    assert alerts.queue_length() == 3
    clock.advance(seconds=backoff(alert_settings, 1).total_seconds())
    assert pass_once(db, alerts) == 3
    assert smtp.mails.wait_for(1) and webhook.received.wait_for(1) and broker.messages.wait_for(1)
    assert waiting(db) == 0


def test_backoff_doubles_up_to_its_cap_and_an_alert_expires(
    tmp_path: Path, clock: FakeClock, webhook: WebhookPeer
) -> None:
    alert_settings = settings(webhook=webhook, expire_hours=1)
    assert [backoff(alert_settings, n).total_seconds() for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
    db = open_db(tmp_path)
    alerts = service(db, alert_settings, clock)
    webhook.failing = True
    record(db, "door_forced", None, clock())
    for _ in range(3):
        pass_once(db, alerts)
        clock.advance(minutes=1)
    clock.advance(hours=1)
    webhook.failing = False
    assert pass_once(db, alerts) == 0
    assert waiting(db) == 0 and webhook.received.items == []  # given up, not sent late


def test_a_channel_that_is_down_holds_up_no_other(
    tmp_path: Path, clock: FakeClock, smtp: SmtpPeer, webhook: WebhookPeer
) -> None:
    """On the threads: the mail server refuses, the webhook gets its alert anyway."""
    db = open_db(tmp_path)
    smtp.stop()
    alerts = service(db, settings(smtp, webhook), clock)
    alerts.start()
    try:
        record(db, "door_held_open", None, clock())
        alerts.wake()
        assert webhook.received.wait_for(1)[0]["kind"] == "door_held_open"
    finally:
        alerts.stop()
    assert [s.channel.name for s in alerts.senders if s.sent] == ["webhook"]


@pytest.mark.parametrize("read_before_stop", [True, False], ids=["queued", "not-yet-read"])
def test_undelivered_alerts_survive_a_restart(
    tmp_path: Path, clock: FakeClock, webhook: WebhookPeer, read_before_stop: bool
) -> None:
    db = open_db(tmp_path)
    webhook.failing = True
    first = service(db, settings(webhook=webhook), clock)
    record(db, "door_forced", None, clock())
    record(db, "lms_link", "lms_lost", clock())
    if read_before_stop:
        assert pass_once(db, first) == 0  # raised and tried: the receiver is down
        assert waiting(db) == 2
    del first  # the process ends

    webhook.failing = False
    clock.advance(minutes=1)
    again = service(open_db(tmp_path), settings(webhook=webhook), clock)
    again.start()
    try:
        again.wake_all()
        kinds = sorted(h["kind"] for h in webhook.received.wait_for(2))
    finally:
        again.stop()
    assert kinds == ["door_forced", "lms_lost"]
    assert waiting(db) == 0 and len(alert_rows(db)) == 2


def test_the_door_loop_late_is_logged_once_per_episode(tmp_path: Path, clock: FakeClock) -> None:
    age = [0.4]
    logged: list[str | None] = []
    alerts = service(
        open_db(tmp_path),
        settings(),
        clock,
        loop_age=lambda: age[0],
        record=lambda event: logged.append(event.reason),
    )
    assert not alerts.watch.check_loop()
    age[0] = 3.5
    assert alerts.watch.check_loop() and not alerts.watch.check_loop()
    age[0] = 0.1
    assert not alerts.watch.check_loop()
    age[0] = 4.0
    assert alerts.watch.check_loop()
    assert logged == ["door_loop_late", "door_loop_late"]


def test_a_clean_stop_and_start_is_no_outage(tmp_path: Path, clock: FakeClock) -> None:
    db = open_db(tmp_path)
    alerts = service(db, settings(), clock)
    for reason in ("started", "stopped", "started"):
        record(db, "service", reason, clock.advance(seconds=1))
    pass_once(db, alerts)
    assert alert_rows(db) == []
    record(db, "service", "started", clock.advance(seconds=1))
    pass_once(db, alerts)
    assert [row.kind for row in alert_rows(db)] == ["controller_back"]


def test_the_watch_wakes_when_told(tmp_path: Path, clock: FakeClock, webhook: WebhookPeer) -> None:
    """The EventWriter's after-write hook only sets a flag; the watch reads at once."""
    db = open_db(tmp_path)
    alerts = service(db, settings(webhook=webhook), clock)
    alerts.start()
    try:
        record(db, "help_requested", None, clock())
        woke = threading.Thread(target=alerts.wake)
        woke.start()
        woke.join(HANG_GUARD)
        assert webhook.received.wait_for(1)[0]["kind"] == "help_requested"
    finally:
        alerts.stop()
