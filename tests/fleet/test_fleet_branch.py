"""The door process starts the fleet publisher when [fleet] is enabled (off by default)."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from controller.config.settings import Settings
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.door.branch import BranchService
from controller.sim.hardware import SimulatedHardware
from tests.conftest import FakeClock
from tests.fleet.conftest import fleet_settings
from tests.mqtt_support import Broker


def test_the_door_process_publishes_its_state_and_events(
    settings: Settings, clock: FakeClock, broker: Broker
) -> None:
    assert settings.fleet.enabled is False  # off unless configured
    sim = SimulatedHardware.create(
        settings.model_copy(update={"fleet": fleet_settings(broker, branch="north")}), MockFactory()
    )
    service = BranchService(
        sim.settings,
        Schedule(),
        pin_factory=sim.factory,
        clock=clock,
        monotonic=clock.monotonic,
        mode_override=DoorMode.OPENPLUS,
    )
    sim.at_rest()
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
