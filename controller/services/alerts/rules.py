"""Which events are alerts, and whether and where an alert is sent (the `[alerts]` rules).

Events are matched by their stored values (type and reason text), not by enum members, so an
event type another part adds (the help button's `help_requested`) needs no import here, and
events written by the web process or the camera's pump count the same as the door's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.config.alerts import AlertKind, AlertSettings, ChannelName, in_any
from controller.domain.clock import to_local
from controller.domain.modes import DoorMode
from controller.store.alerts import EventRow

LOOP_LATE_REASON = "door_loop_late"  # a `service` event: the door loop missed its turns
STARTED, STOPPED = "started", "stopped"

# event type -> kind, for types that are an alert whatever their reason, except the reasons
# that say a fault is over (those are no alert).
_BY_TYPE: dict[str, AlertKind] = {
    "door_forced": AlertKind.DOOR_FORCED,
    "door_held_open": AlertKind.DOOR_HELD_OPEN,
    "help_requested": AlertKind.HELP_REQUESTED,
    "reader_fault": AlertKind.READER_FAULT,
    "camera_fault": AlertKind.CAMERA_FAULT,
    "output_fault": AlertKind.OUTPUT_FAULT,
    "sign_in_paused": AlertKind.SIGN_IN_PAUSED,
    "tailgating": AlertKind.TAILGATING,
    "occupied_at_closing": AlertKind.OCCUPIED_AT_CLOSING,  # not its "recovered" (empty again)
}
_NOT_A_FAULT = {"reconnected", "recovered"}
# (event type, reason) -> kind
_BY_REASON: dict[tuple[str, str], AlertKind] = {
    ("alarm", "card_cycling"): AlertKind.CARD_CYCLING,
    ("alarm", "pin_lockouts_escalating"): AlertKind.LOCKOUTS_ESCALATING,
    ("lms_link", "lms_lost"): AlertKind.LMS_LOST,
    ("service", LOOP_LATE_REASON): AlertKind.DOOR_LOOP_LATE,
    ("admin_change", "fleet_command_refused"): AlertKind.FLEET_COMMAND_REFUSED,  # services/fleet
    ("service", "spill_set_aside"): AlertKind.SPILL_SET_ASIDE,  # door/event_writer.py
}


def kind_of(event: EventRow, previous_service: Callable[[], str | None]) -> AlertKind | None:
    """The alert an event raises, or None. `previous_service` gives the reason of the last
    start/stop event before it, asked only for a start: a start after a start (no `stopped`
    between) means the last run ended without its stop (killed, crashed, power cut)."""
    if event.type in _BY_TYPE:
        return None if event.reason in _NOT_A_FAULT else _BY_TYPE[event.type]
    if event.type == "service" and event.reason == STARTED:
        return AlertKind.CONTROLLER_BACK if previous_service() == STARTED else None
    return _BY_REASON.get((event.type, event.reason or ""))


@dataclass(frozen=True)
class Verdict:
    """What to do with a new alert: the channels to send it on (empty: list it only)."""

    channels: tuple[ChannelName, ...]
    why_not: str | None = None  # "quiet", "no rule", "rate limit": why nothing is sent


def channels_for(
    settings: AlertSettings, kind: AlertKind, reason: str | None, at: datetime, mode: DoorMode | None
) -> tuple[ChannelName, ...]:
    """The configured channels of every rule that matches (kind, reason, door mode, time)."""
    local = to_local(at).time()
    chosen: set[ChannelName] = set()
    for rule in settings.rules:
        if kind not in rule.kinds:
            continue
        if rule.reasons and reason not in rule.reasons:
            continue
        if rule.modes and (mode is None or mode not in rule.modes):
            continue
        if rule.hours and not in_any(rule.hours, local):
            continue
        chosen.update(rule.channels or settings.configured_channels)
    return tuple(name for name in settings.configured_channels if name in chosen)


def decide(
    settings: AlertSettings,
    kind: AlertKind,
    reason: str | None,
    at: datetime,
    mode: DoorMode | None,
    last_sent_at: datetime | None,
) -> Verdict:
    """Whether an alert raised at `at` goes out: rules, then quiet periods, then the rate limit
    (at most one sent per kind in min_interval; more fold into that one as repeats)."""
    channels = channels_for(settings, kind, reason, at, mode)
    if not channels:
        return Verdict((), "no rule")
    if settings.quiet and in_any(settings.quiet, to_local(at).time()):
        return Verdict((), "quiet")
    interval = timedelta(minutes=settings.min_interval(kind))
    if last_sent_at is not None and interval and abs(at - last_sent_at) < interval:
        return Verdict((), "rate limit")
    return Verdict(channels)
