"""The alert service as the door process runs it: the watch and one sender per channel.

`AlertService.start()` starts the threads, `stop()` ends them (what is not delivered stays
in the queue for the next start), `wake()` is what the door's EventWriter calls after each
write. Nothing here is called from the door thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from controller.config.alerts import AlertSettings
from controller.domain.clock import Clock
from controller.domain.events import Event
from controller.domain.modes import DoorMode
from controller.services.alerts.channels import AlertChannel, EmailAlerts, WebhookAlerts
from controller.services.alerts.mqtt import MqttAlerts
from controller.services.alerts.sender import ChannelSender
from controller.services.alerts.watch import AlertWatch
from controller.store.db import Database

log = logging.getLogger(__name__)


def build_channels(settings: AlertSettings, door: str) -> list[AlertChannel]:
    """One channel per configured section ([alerts.email], [alerts.webhook], [alerts.mqtt])."""
    channels: list[AlertChannel] = []
    if settings.email is not None:
        channels.append(EmailAlerts(settings.email))
    if settings.webhook is not None:
        channels.append(WebhookAlerts(settings.webhook))
    if settings.mqtt is not None:
        channels.append(MqttAlerts(settings.mqtt, door))
    return channels


class AlertService:
    def __init__(
        self,
        db: Database,
        settings: AlertSettings,
        clock: Clock,
        door: str,
        *,
        channels: list[AlertChannel] | None = None,
        mode_now: Callable[[], DoorMode | None] = lambda: None,
        loop_age: Callable[[], float] | None = None,
        record: Callable[[Event], object] | None = None,
    ) -> None:
        chosen = build_channels(settings, door) if channels is None else channels
        self.senders = [ChannelSender(channel, db, settings, clock) for channel in chosen]
        self.watch = AlertWatch(
            db,
            settings,
            clock,
            door,
            mode_now=mode_now,
            loop_age=loop_age,
            record=record,
            on_queued=self._wake_senders,
        )

    def _wake_senders(self) -> None:
        for sender in self.senders:
            sender.wake()

    def wake(self) -> None:
        """New events are in the database (the EventWriter's after-write hook): look now."""
        self.watch.wake()

    def wake_all(self) -> None:
        """Look at events and at the queue now (after the clock moved, in tests)."""
        self.watch.wake()
        self._wake_senders()

    def queue_length(self) -> int | None:
        """Deliveries not yet made, as the watch last counted them (no query: /metrics reads it)."""
        return self.watch.queue_length

    def start(self) -> None:
        for sender in self.senders:
            sender.start()
        self.watch.start()
        log.info(
            "alerts on: channels %s",
            ", ".join(s.channel.name for s in self.senders) or "none (listed on Today only)",
        )

    def stop(self, timeout: float = 1.0) -> None:
        self.watch.stop(timeout)
        for sender in self.senders:
            sender.stop(timeout)
