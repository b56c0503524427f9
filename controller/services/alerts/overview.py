"""What the Today page and the API read about alerts, and acknowledging one (audited)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from controller.domain.clock import Clock
from controller.domain.events import Event, EventType
from controller.store.alerts import AlertRow, AlertStore
from controller.store.db import transaction
from controller.store.events import EventLog

OPEN_LIMIT = 50


class AlertNotOpen(LookupError):
    """No alert with that id, or it was acknowledged already."""


@dataclass(frozen=True)
class AlertView:
    alert: AlertRow
    deliveries: dict[str, tuple[bool, int, str | None]]  # channel -> delivered, tries, error


def open_alerts(conn: sqlite3.Connection, limit: int = OPEN_LIMIT) -> list[AlertView]:
    """Alerts not acknowledged yet, newest first, each with how its deliveries went."""
    store = AlertStore(conn)
    return [AlertView(row, store.deliveries(row.id)) for row in store.open_alerts(limit)]


def acknowledge(conn: sqlite3.Connection, alert_id: int, actor: str, clock: Clock, door: str) -> AlertView:
    """Mark an open alert seen by `actor`, audited as an admin_change in the same transaction.
    Delivery goes on: a person elsewhere may not have been told yet."""
    with transaction(conn):
        store = AlertStore(conn)
        now = clock()
        if not store.acknowledge(alert_id, actor, now):
            raise AlertNotOpen(f"no open alert {alert_id} (unknown, or acknowledged already)")
        row = store.get(alert_id)
        assert row is not None
        EventLog(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=now,
                door=door,
                reason="alert_acknowledged",
                actor=actor,
                detail=f"alert={alert_id} kind={row.kind}",
            )
        )
        return AlertView(row, store.deliveries(alert_id))
