"""The door process starts the fleet publisher when [fleet] is enabled (off by default)."""

from __future__ import annotations

from controller.config.settings import Settings
from controller.domain.events import Event, EventType
from tests.conftest import FakeClock, simulated_openplus_branch
from tests.fleet.conftest import fleet_settings
from tests.mqtt_support import Broker


def test_the_door_process_publishes_its_state_and_events(
    settings: Settings, clock: FakeClock, broker: Broker
) -> None:
    assert settings.fleet.enabled is False  # off unless configured
    sim, service = simulated_openplus_branch(
        settings.model_copy(update={"fleet": fleet_settings(broker, branch="north")}), clock
    )
    service.start()
    try:
        broker.messages.wait_until(
            lambda items: any(t == "openplus/north/state" and p.get("mode") == "openplus" for t, p in items)
        )
        service.writer.record(
            Event(type=EventType.SERVICE, at=clock(), door="front", reason="checked")
        )  # the writer wakes the publisher
        got = broker.messages.wait_until(
            lambda items: any(t == "openplus/north/events" and p["reason"] == "checked" for t, p in items)
        )
    finally:
        service.stop()
        sim.close()
    checked = next(p for t, p in got if t == "openplus/north/events" and p["reason"] == "checked")
    assert checked["id"].startswith("north/") and checked["type"] == "service"
