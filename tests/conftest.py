"""Fixtures shared by the controller tests: an injected clock and a fresh data directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from gpiozero.pins.mock import MockFactory

from controller.config.settings import Settings, parse_settings
from controller.services.runtime import Runtime
from tests.drivers.gpio_support import NotifyingMockPin
from tests.mqtt_support import Broker, mosquitto_binary

if TYPE_CHECKING:  # imported where used: every test loads this file
    from controller.door.branch import BranchService
    from controller.sim.hardware import SimulatedHardware


class FakeClock:
    """Wall and monotonic time that tests move by hand; wall time is aware UTC (DST-safe).

    `advance` is time passing (both clocks move); `step` is the wall clock being set (NTP,
    `date -s`): only wall time jumps, the monotonic clock does not.
    """

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)
        self.seconds = 1000.0  # monotonic; any origin

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, **delta: float) -> datetime:
        step = timedelta(**delta)
        self.now += step
        self.seconds += step.total_seconds()
        return self.now

    def step(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(autouse=True)
def keep_umask():
    """controller.cli.main.main() sets the process umask (0077); a test calling it in-process must
    not change the umask of the tests after it."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture
def clock() -> FakeClock:
    # A Wednesday evening in Open+ hours, Europe/Amsterdam winter time (UTC+1).
    return FakeClock(datetime(2026, 11, 25, 20, 30, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    return parse_settings({"storage": {"data_dir": str(tmp_path / "data")}}, "test")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Runtime:
    return Runtime.open(settings, clock=clock)


DEMO_CARD = "29990000000001"  # member 1 of tests.helpers.member_row, PIN 1234
SECOND_CARD = "29990000000002"  # member 2, PIN 1234


def simulated_openplus_branch(
    settings: Settings, clock: FakeClock, members: tuple[int, ...] = ()
) -> tuple[SimulatedHardware, BranchService]:
    """The wired BranchService on simulated hardware (mock pins), in Open+, with the injected wall
    and monotonic clocks, `members` (tests.helpers.member_row numbers) on its list and the
    simulated inputs at rest; not started, so a test can look before the threads run. The one
    set-up of the live, counted, camera and fleet branches: they differ only in `settings`."""
    from contextlib import closing

    from controller.domain.modes import DoorMode
    from controller.domain.schedule import Schedule
    from controller.door.branch import BranchService
    from controller.services.members import MemberAdmin
    from controller.sim.hardware import SimulatedHardware
    from tests.helpers import member_row

    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(
        sim.settings,
        Schedule(),
        pin_factory=sim.factory,
        clock=clock,
        monotonic=clock.monotonic,
        mode_override=DoorMode.OPENPLUS,
    )
    if members:
        with closing(service.runtime.connection()) as conn:
            MemberAdmin(service.runtime.members(conn), service.runtime.events(conn), clock, "e").replace_list(
                [(number, member_row(number)) for number in members], "test"
            )
    sim.at_rest()
    return sim, service


@pytest.fixture
def live_branch(settings: Settings, clock: FakeClock):
    """The wired BranchService on simulated hardware, its threads running, in Open+, with the
    injected wall and monotonic clocks; members 1 and 2 (DEMO_CARD, SECOND_CARD), PIN 1234."""
    sim, service = simulated_openplus_branch(settings, clock, members=(1, 2))
    service.start()
    assert service.wait_readers_connected(5)
    assert service.loop.wait_idle(5)
    yield sim, service
    service.stop()
    sim.close()


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """A fresh gpiozero mock pin factory whose pins report level changes (the GPIO driver
    and door tests wait on them); tests close their devices, this drops the pins afterwards."""
    factory = MockFactory(pin_class=NotifyingMockPin)
    yield factory
    factory.close()
    factory.reset()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on a free loopback port with a subscriber to '#' (tests/mqtt_support.py)."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; ./dev installs it)")
    peer = Broker(binary, tmp_path)
    peer.start()
    peer.subscribe()
    yield peer
    peer.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl CLI), for the loopback
    peers that speak TLS (the SIP2 fault proxy, the SMTP server)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "peer.pem", tmp_path / "peer.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


# --- a wired branch with the people counter's beams (test_occupancy, test_statistics_people) ---
NO_PAUSE = threading.Event()  # the simulated walk's pause between beam edges: none
NO_PAUSE.set()


@pytest.fixture
def counted_branch(settings: Settings, clock: FakeClock) -> Iterator[tuple[Any, Any]]:
    """BranchService on simulated hardware, in Open+, with beams that know no flicker time: the
    driver keeps real monotonic time, and the simulated walk's edges come without a real pause."""
    raw = settings.model_dump(mode="json")
    raw["hardware"]["counter"] = {"a_pin": 7, "b_pin": 8, "flicker_ms": 0}
    sim, service = simulated_openplus_branch(parse_settings(raw, "test"), clock, members=(1,))
    service.start()
    assert service.loop.wait_idle(5)
    yield sim, service
    service.stop()
    sim.close()
