"""Alerts (role security): the open ones, and acknowledging one (audited as admin_change).

Alerts are raised by the door process from events ([alerts] in the config) and sent by email,
webhook or MQTT; an alert stays open here and on the Today page until someone acknowledges
it. Acknowledging does not stop a delivery still under way: someone elsewhere may not have
been told yet.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from controller.api.deps import Actor, Conn, Services, require_role
from controller.api.schemas import TimePoint, error_responses
from controller.config.alerts import AlertKind
from controller.services.alerts.message import AlertMessage
from controller.services.alerts.overview import OPEN_LIMIT, AlertNotOpen, AlertView, acknowledge, open_alerts
from controller.services.events import MAX_ID
from controller.services.users import Role
from controller.store.alerts import AlertRow

router = APIRouter(
    prefix="/alerts",
    tags=["alerts"],
    dependencies=[Depends(require_role(Role.SECURITY))],
    responses=error_responses(401, 403, 422),
)

AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="An alert's id (from GET /alerts).")]


class DeliveryOut(BaseModel):
    channel: str = Field(examples=["email"])
    delivered: bool
    attempts: int
    last_error: str | None = Field(description="Why the last try failed; null once delivered.")


class AlertOut(BaseModel):
    id: int
    kind: AlertKind
    what: str = Field(
        description="The kind in Dutch words, as the mail's subject says it.", examples=["Deur geforceerd"]
    )
    door: str
    at: TimePoint
    reason: str | None
    detail: str | None
    event_id: int | None = Field(description="The event it was raised from.")
    repeats: int = Field(description="More events of its kind folded into it (rate limit).")
    sent: bool = Field(description="False: listed only (a quiet period, no rule for it, or no channel).")
    acknowledged_at: TimePoint | None
    acknowledged_by: str | None
    deliveries: list[DeliveryOut]

    @classmethod
    def of(cls, row: AlertRow, deliveries: dict[str, tuple[bool, int, str | None]]) -> AlertOut:
        return cls(
            id=row.id,
            kind=AlertKind(row.kind),
            what=AlertMessage.of(row).what("nl"),
            door=row.door,
            at=TimePoint.of(row.at),
            reason=row.reason,
            detail=row.detail,
            event_id=row.event_id,
            repeats=row.repeats,
            sent=row.sent,
            acknowledged_at=TimePoint.maybe(row.acked_at),
            acknowledged_by=row.acked_by,
            deliveries=[
                DeliveryOut(channel=name, delivered=done, attempts=tries, last_error=error)
                for name, (done, tries, error) in sorted(deliveries.items())
            ],
        )

    @classmethod
    def of_view(cls, view: AlertView) -> AlertOut:
        return cls.of(view.alert, view.deliveries)


@router.get("", response_model=list[AlertOut], summary="Open alerts, newest first")
def list_alerts(conn: Conn, limit: Annotated[int, Query(ge=1, le=OPEN_LIMIT)] = OPEN_LIMIT) -> list[AlertOut]:
    return [AlertOut.of_view(view) for view in open_alerts(conn, limit)]


@router.post(
    "/{alert_id}/ack",
    response_model=AlertOut,
    responses=error_responses(404),
    summary="Acknowledge an open alert (audited)",
)
def ack_alert(alert_id: AlertId, services: Services, conn: Conn, actor: Actor) -> AlertOut:
    runtime = services.runtime
    try:
        view = acknowledge(conn, alert_id, actor, runtime.clock, runtime.settings.branch.door)
    except AlertNotOpen as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return AlertOut.of_view(view)
