"""Building alert services on a scratch database, and the events each alert kind comes from."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.config.alerts import AlertKind, AlertSettings
from controller.domain.events import Event, EventType
from controller.services.alerts.channels import AlertChannel
from controller.services.alerts.service import AlertService
from controller.store.alerts import AlertRow, AlertStore
from controller.store.db import Database
from controller.store.events import EventLog
from tests.alerts.conftest import SMTP_PASSWORD, SMTP_USER, WEBHOOK_SECRET, SmtpPeer, WebhookPeer
from tests.conftest import FakeClock
from tests.mqtt_support import Broker

DOOR = "entrance"

# The event (type, reason) each kind is raised from; door_loop_late and controller_back are
# made by their own steps (the watch's loop check; a start after a start).
KIND_EVENTS: dict[AlertKind, tuple[str, str | None]] = {
    AlertKind.DOOR_FORCED: ("door_forced", None),
    AlertKind.DOOR_HELD_OPEN: ("door_held_open", None),
    AlertKind.HELP_REQUESTED: ("help_requested", None),
    AlertKind.CARD_CYCLING: ("alarm", "card_cycling"),
    AlertKind.LOCKOUTS_ESCALATING: ("alarm", "pin_lockouts_escalating"),
    AlertKind.READER_FAULT: ("reader_fault", "disconnected"),
    AlertKind.CAMERA_FAULT: ("camera_fault", "disk_full"),
    AlertKind.OUTPUT_FAULT: ("output_fault", "display_unreachable"),
    AlertKind.LMS_LOST: ("lms_link", "lms_lost"),
    AlertKind.SIGN_IN_PAUSED: ("sign_in_paused", None),
    AlertKind.TAILGATING: ("tailgating", None),
    AlertKind.OCCUPIED_AT_CLOSING: ("occupied_at_closing", None),
    AlertKind.FLEET_COMMAND_REFUSED: ("admin_change", "fleet_command_refused"),
    AlertKind.SPILL_SET_ASIDE: ("service", "spill_set_aside"),
}
NOT_ALERTS: list[tuple[str, str | None]] = [
    ("access_granted", "granted"),
    ("reader_fault", "reconnected"),
    ("camera_fault", "recovered"),
    ("lms_link", "lms_back"),
    ("service", "fail_secure"),
    ("alarm", "something_new"),
    ("mode_changed", None),
    ("occupied_at_closing", "recovered"),
    ("grant_unused", None),
    ("admin_change", "fleet_command_applied"),
]


def settings(
    smtp: SmtpPeer | None = None,
    webhook: WebhookPeer | None = None,
    broker: Broker | None = None,
    **more: Any,
) -> AlertSettings:
    """Alerts on, no quiet period, retries after 5 s doubling, with the given peers."""
    values: dict[str, Any] = {"enabled": True, "retry_first_seconds": 5, "retry_max_seconds": 60}
    if smtp is not None:
        values["email"] = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "ca_file": str(smtp.cert),
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            "sender": "deur@bieb.example",
            "recipients": ["security@bieb.example"],
            "timeout_seconds": 5,
        }
    if webhook is not None:
        values["webhook"] = {"url": webhook.url, "secret": WEBHOOK_SECRET, "timeout_seconds": 5}
    if broker is not None:
        values["mqtt"] = {"host": "127.0.0.1", "port": broker.port, "timeout_seconds": 5}
    return AlertSettings.model_validate(values | more)


def record(db: Database, kind: str, reason: str | None, at: datetime, detail: str | None = None) -> int:
    with closing(db.connect()) as conn:
        return EventLog(conn).record(
            Event(type=EventType(kind), at=at, door=DOOR, reason=reason, detail=detail)
        )


def service(
    db: Database,
    alert_settings: AlertSettings,
    clock: FakeClock,
    channels: list[AlertChannel] | None = None,
    **hooks: Any,
) -> AlertService:
    return AlertService(db, alert_settings, clock, DOOR, channels=channels, **hooks)


def pass_once(db: Database, alerts: AlertService) -> int:
    """What the threads do in one turn, on this thread: read events, send what is due."""
    with closing(db.connect()) as conn:
        alerts.watch.poll_once(conn)
        return sum(sender.send_due(conn) for sender in alerts.senders)


def alert_rows(db: Database) -> list[AlertRow]:
    with closing(db.connect()) as conn:
        return list(reversed(AlertStore(conn).open_alerts(500)))


def waiting(db: Database) -> int:
    with closing(db.connect()) as conn:
        return AlertStore(conn).waiting()


def open_db(path: Path) -> Database:
    return Database(path / "door.db")
