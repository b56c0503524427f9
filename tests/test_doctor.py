"""`openplus-door doctor`: each check ok, warn or fail with its fix, on a fake machine (every probe
injected), plus the real probes where this machine can run them: a real SIP2 server on loopback
(answering, refusing, silent) and a real video file for the camera."""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import main
from controller.config.settings import Settings, parse_settings
from controller.services import doctor as doctor_module
from controller.services.doctor import MB, CheckResult, Doctor, Level, render
from controller.services.doctor_probes import (
    CommandResult,
    DiskUsage,
    NoPinFactory,
    PinUnavailable,
    Probes,
    lms_sc_status,
    read_one_frame,
)
from controller.sim.lms_server import RunningServer, build_server
from tests.test_camera import write_test_video

GB = 1024 * MB
READERS = {
    "readers": [
        {"type": "barcode", "name": "scanner", "port": "/dev/ttyACM0"},
        {"type": "rdm6300", "name": "rfid", "port": "/dev/serial0"},
        {"type": "wiegand", "name": "keypad", "d0_pin": 23, "d1_pin": 24},
    ]
}


class FakeMachine:
    """A Pi as the doctor sees it: which pins are busy, which devices exist, what commands say."""

    def __init__(self) -> None:
        self.busy_pins: dict[int | str, str] = {}
        self.no_factory = False
        self.devices = {"/dev/ttyACM0", "/dev/serial0"}
        self.frame_problem: str | None = None
        self.lms_answer: str | Exception = "online"
        self.units = {"openplus-door": "active", "openplus-door-web": "active"}
        self.ntp: CommandResult | Exception = CommandResult(0, "yes")
        self.free = 50 * GB
        self.claimed: list[int | str] = []
        self.lock_claims: list[tuple[int | str, bool]] = []

    def probes(self) -> Probes:
        return Probes(
            claim_pin=self.claim,
            claim_lock_pin=self.claim_lock,
            device_exists=lambda path: path in self.devices,
            read_frame=lambda source, timeout: self.frame_problem,
            lms_status=self.lms,
            run=self.run,
            disk=lambda path: DiskUsage(total=100 * GB, free=self.free),
        )

    def claim(self, pin: int | str) -> None:
        if self.no_factory:
            raise NoPinFactory("Unable to load any default pin factory!")
        self.claimed.append(pin)
        if pin in self.busy_pins:
            raise PinUnavailable(self.busy_pins[pin])

    def claim_lock(self, pin: int | str, active_high: bool) -> None:
        self.lock_claims.append((pin, active_high))
        self.claim(pin)

    def lms(self, settings: Any, timeout: float) -> str:
        if isinstance(self.lms_answer, Exception):
            raise self.lms_answer
        return self.lms_answer

    def run(self, command: Sequence[str], timeout: float) -> CommandResult:
        if command[:2] == ["systemctl", "is-active"]:
            return CommandResult(0 if self.units[command[2]] == "active" else 3, self.units[command[2]])
        if command[0] == "timedatectl":
            if isinstance(self.ntp, Exception):
                raise self.ntp
            return self.ntp
        raise AssertionError(f"unexpected command {command}")


@pytest.fixture
def machine() -> FakeMachine:
    return FakeMachine()


def configured(tmp_path: Path, **sections: Any) -> Settings:
    data = tmp_path / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    return parse_settings({"storage": {"data_dir": str(data)}, "hardware": READERS, **sections}, "test")


def check(results: list[CheckResult], name: str) -> list[CheckResult]:
    return [result for result in results if result.name == name]


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)


def test_a_healthy_pi_passes_every_check(tmp_path, machine):
    results = Doctor(configured(tmp_path), machine.probes()).run()
    assert [result.level for result in results] == [Level.OK] * len(results), render(results)
    assert {result.name for result in results} == {
        "service",
        "pins",
        "serial",
        "camera",
        "lms",
        "clock",
        "disk",
    }
    assert render(results).endswith("all checks passed")


def test_a_missing_serial_port_is_a_fail_with_its_fix(tmp_path, machine):
    machine.devices = {"/dev/serial0"}
    results = Doctor(configured(tmp_path), machine.probes()).run()
    [missing] = [result for result in check(results, "serial") if result.failed]
    assert missing.message == "/dev/ttyACM0 (reader 'scanner') is missing"
    assert "ls /dev/serial/by-id/" in missing.fix and "[[hardware.readers]]" in missing.fix
    text = render(results)
    assert "FAIL  serial    /dev/ttyACM0 (reader 'scanner') is missing" in text
    assert text.endswith("1 to fix, 0 to look at")


def test_the_pis_own_uart_missing_says_how_to_switch_it_on(tmp_path, machine):
    machine.devices = {"/dev/ttyACM0"}
    [missing] = [r for r in check(Doctor(configured(tmp_path), machine.probes()).run(), "serial") if r.failed]
    assert "raspi-config nonint do_serial_hw 0" in missing.fix


def test_a_busy_pin_is_named_with_what_it_is_for(tmp_path, machine):
    settings = configured(tmp_path)
    machine.units["openplus-door"] = "inactive"
    machine.busy_pins[23] = "GPIO busy"
    [pins] = check(Doctor(settings, machine.probes()).run(), "pins")
    assert pins.failed and pins.message == "GPIO23 (keypad D0): GPIO busy"
    assert machine.lock_claims == [(17, True)]  # the lock pin only as relay-off drives it
    assert {27, 22, 5, 6, 13, 23, 24} <= set(machine.claimed)


def test_pins_are_left_alone_while_the_door_runs_and_no_factory_is_a_fail(tmp_path, machine):
    settings = configured(tmp_path)
    [pins] = check(Doctor(settings, machine.probes()).run(), "pins")
    assert pins.level is Level.OK and "door service holds them" in pins.message
    assert machine.claimed == []

    machine.units["openplus-door"] = "inactive"
    machine.no_factory = True
    results = Doctor(settings, machine.probes()).run()
    [pins] = check(results, "pins")
    assert pins.failed and "no GPIO pin factory" in pins.message and "lgpio" in pins.fix
    [door] = [r for r in check(results, "service") if "openplus-door " in r.message + " "]
    assert door.failed and "systemctl enable --now openplus-door" in door.fix


def test_the_clock_synchronised_not_and_unknown(tmp_path, machine):
    settings = configured(tmp_path)
    assert check(Doctor(settings, machine.probes()).run(), "clock")[0].level is Level.OK
    machine.ntp = CommandResult(0, "no")
    [clock] = check(Doctor(settings, machine.probes()).run(), "clock")
    assert clock.failed and "timesync-status" in clock.fix
    for unknown in (
        FileNotFoundError("timedatectl"),
        CommandResult(1, "System has not been booted with systemd"),
    ):
        machine.ntp = unknown
        [clock] = check(Doctor(settings, machine.probes()).run(), "clock")
        assert clock.level is Level.WARN and "unknown" in clock.message


def test_with_the_door_screen_on_the_kiosks_browser_is_checked(tmp_path, machine):
    settings = configured(tmp_path, screen={"enabled": True})
    [kiosk] = check(Doctor(settings, machine.probes()).run(), "kiosk")
    assert kiosk.failed and "neither /usr/bin/chromium nor /usr/bin/chromium-browser exists" in kiosk.message
    assert "apt-get install chromium" in kiosk.fix
    machine.devices.add("/usr/bin/chromium-browser")  # an older Raspberry Pi OS Bookworm image
    [kiosk] = check(Doctor(settings, machine.probes()).run(), "kiosk")
    assert kiosk.level is Level.OK and "/usr/bin/chromium-browser" in kiosk.message
    machine.devices.add("/usr/bin/chromium")
    [kiosk] = check(Doctor(settings, machine.probes()).run(), "kiosk")
    assert kiosk.level is Level.OK and kiosk.message.endswith("/usr/bin/chromium")


@pytest.mark.parametrize(
    ("free", "level"), [(100 * MB, Level.FAIL), (700 * MB, Level.WARN), (5 * GB, Level.OK)]
)
def test_disk_thresholds_for_the_data_directory(tmp_path, machine, free, level):
    machine.free = free
    doctor = Doctor(configured(tmp_path), machine.probes(), data_fail_bytes=256 * MB, data_warn_bytes=1 * GB)
    [disk] = check(doctor.run(), "disk")
    assert disk.level is level, disk


@pytest.mark.parametrize(
    ("free", "level"), [(400 * MB, Level.FAIL), (900 * MB, Level.WARN), (2 * GB, Level.OK)]
)
def test_footage_disk_follows_the_cameras_min_free(tmp_path, machine, free, level):
    machine.free = free
    settings = configured(tmp_path, camera={"enabled": True, "min_free_mb": 500})
    doctor = Doctor(settings, machine.probes(), data_fail_bytes=0, data_warn_bytes=0)
    [data, footage] = check(doctor.run(), "disk")
    assert data.level is Level.OK and footage.level is level
    assert "footage" in footage.message and str(tmp_path / "data") in footage.message


def test_a_missing_or_open_data_directory(tmp_path, machine):
    settings = configured(tmp_path)
    settings.data_dir.chmod(0o755)
    [_, open_dir] = check(Doctor(settings, machine.probes()).run(), "disk")
    assert open_dir.level is Level.WARN and open_dir.fix == f"sudo chmod 700 {settings.data_dir}"
    settings.data_dir.rmdir()
    [missing] = check(Doctor(settings, machine.probes()).run(), "disk")
    assert missing.failed and "openplus-door install" in missing.fix


def test_the_camera_check_reads_one_frame(tmp_path, machine):
    settings = configured(tmp_path, camera={"enabled": True, "source": "rtsp://camera/stream"})
    assert check(Doctor(settings, machine.probes()).run(), "camera")[0].level is Level.OK
    machine.frame_problem = "gave no frame within 5 s"
    [camera] = check(Doctor(settings, machine.probes()).run(), "camera")
    assert camera.failed and "'rtsp://camera/stream' gave no frame within 5 s" in camera.message
    assert "the running door service may hold it" in camera.message  # the fake door runs
    assert "[camera] source" in camera.fix


def test_the_real_frame_probe_on_a_video_file(tmp_path):
    video = write_test_video(tmp_path / "entrance.mp4", count=3)
    assert read_one_frame(str(video), 5.0) is None
    assert read_one_frame(str(tmp_path / "absent.mp4"), 5.0) == "cannot be opened"


@pytest.fixture
def lms() -> Iterator[RunningServer]:
    running = RunningServer(build_server())
    running.start()
    yield running
    running.stop()


def lms_settings(tmp_path: Path, port: int) -> Settings:
    return configured(tmp_path, lms={"enabled": True, "host": "127.0.0.1", "port": port})


def test_an_lms_that_answers_sc_status_is_ok(tmp_path, machine, lms):
    probes = machine.probes()
    probes.lms_status = lms_sc_status  # the real SIP2 client against pysip2's server
    [result] = check(Doctor(lms_settings(tmp_path, lms.port), probes, lms_timeout=3.0).run(), "lms")
    assert result.level is Level.OK, result
    assert result.message == f"127.0.0.1:{lms.port} answered SC status: online"


def test_an_lms_that_refuses_or_stays_silent_is_a_fail(tmp_path, machine):
    probes = machine.probes()
    probes.lms_status = lms_sc_status
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused_port = closed.getsockname()[1]
    [refused] = check(Doctor(lms_settings(tmp_path, refused_port), probes, lms_timeout=1.0).run(), "lms")
    assert refused.failed and "cannot connect" in refused.message and "firewall" in refused.fix

    with socket.socket() as silent:  # accepts (the kernel's backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        doctor = Doctor(lms_settings(tmp_path, silent.getsockname()[1]), probes, lms_timeout=0.3)
        [quiet] = check(doctor.run(), "lms")
    assert quiet.failed and "tls" in quiet.fix


def test_lms_off_needs_no_network(tmp_path, machine):
    machine.lms_answer = AssertionError("must not be asked")
    [result] = check(Doctor(configured(tmp_path), machine.probes()).run(), "lms")
    assert result.level is Level.OK and "local list" in result.message


def test_the_cli_exits_1_on_a_fail_and_0_when_healthy(tmp_path, machine, monkeypatch, capsys):
    config = tmp_path / "door.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        '[[hardware.readers]]\ntype = "barcode"\nname = "scanner"\nport = "/dev/ttyACM0"\n'
    )
    (tmp_path / "data").mkdir(mode=0o700)
    monkeypatch.setattr(doctor_module, "Doctor", functools.partial(Doctor, probes=machine.probes()))
    assert main(["--config", str(config), "doctor"]) == 0
    assert "all checks passed" in capsys.readouterr().out
    machine.devices.clear()
    assert main(["--config", str(config), "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"config {config}" in out and "FAIL  serial    /dev/ttyACM0 (reader 'scanner') is missing" in out
