"""The whole service on simulated hardware: ptys speaking RDM6300 and scanner lines, Wiegand
pulses on mock pins, and a real subprocess stopped by signals while the door is unlocked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.config.settings import parse_settings
from controller.domain.clock import local_date
from controller.domain.events import EventType
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.door.branch import BranchService
from controller.door.state_file import STATE_FILE
from controller.sim.hardware import SimulatedHardware, rdm6300_frame
from tests.helpers import member_row_on

ROOT = Path(__file__).resolve().parent.parent
WAIT = 5.0


def test_rdm6300_frame_matches_the_datasheet_example():
    assert rdm6300_frame(0x3B51C6, version=0x67) == b"\x0267003B51C6CB\x03"


@pytest.fixture
def branch(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    settings = parse_settings({"storage": {"data_dir": str(tmp_path)}}, "test")
    sim = SimulatedHardware.create(settings)
    service = BranchService(
        sim.settings, Schedule(), pin_factory=sim.factory, mode_override=DoorMode.OPENPLUS
    )
    from controller.services.members import MemberAdmin

    conn = service.runtime.connection()
    MemberAdmin(
        service.runtime.members(conn), service.runtime.events(conn), service.runtime.clock, "e"
    ).replace_list(
        [(1, member_row_on(local_date(service.runtime.clock()), 1, cards=("29990000000001", "0005000001")))],
        "t",
    )
    conn.close()
    changed = threading.Condition()

    def notify(_snapshot):
        with changed:
            changed.notify_all()

    service.listeners.append(notify)
    sim.at_rest()
    service.start()
    assert service.wait_readers_connected(WAIT)
    service.loop.wait_idle(WAIT)

    def wait_for(predicate) -> bool:
        with changed:
            return changed.wait_for(lambda: predicate(service.snapshot()), WAIT)

    yield sim, service, wait_for
    service.stop()
    sim.close()


def test_barcode_card_and_wiegand_pin_unlock_the_real_relay_pin(branch):
    sim, service, wait_for = branch
    sim.present_card("29990000000001")
    assert wait_for(lambda s: s.phase.value == "awaiting_pin")
    sim.press_keys("1234#")
    assert wait_for(lambda s: s.relay_unlocked)
    assert sim.outputs()["relay"] and sim.outputs()["lights"]
    assert service.signal_queue.wait_idle(WAIT) and sim.outputs()["green"]  # LEDs: own thread
    sim.open_door()
    sim.close_door()
    assert wait_for(lambda s: not s.relay_unlocked)  # in and shut: locked again at once
    assert not sim.outputs()["relay"]


def test_rfid_tag_through_the_rdm6300_pty_and_a_wrong_pin(branch):
    sim, service, wait_for = branch
    sim.present_card("0005000001")
    assert wait_for(lambda s: s.phase.value == "awaiting_pin")
    sim.press_keys("9999#")
    assert wait_for(lambda s: s.message.nl.startswith("Pincode onjuist"))
    assert service.signal_queue.wait_idle(WAIT)
    assert not sim.outputs()["relay"] and sim.outputs()["red"]


def test_forced_door_and_rex_through_the_mock_pins(branch):
    sim, service, wait_for = branch
    sim.open_door()
    assert wait_for(lambda s: s.alarm == "forced")
    sim.close_door()
    sim.press_rex()
    assert wait_for(lambda s: s.relay_unlocked)
    # The door actuates first and logs after, through the write-behind event writer: wait
    # for both before reading the log (the date guard once read it a moment too early).
    assert service.loop.wait_idle(WAIT) and service.writer.flush(WAIT)
    from contextlib import closing

    with closing(service.runtime.connection()) as conn:
        types = [e.type for e in service.runtime.events(conn).query(limit=20)]
    assert EventType.DOOR_FORCED in types and EventType.EXIT_REQUEST in types


def test_a_mode_set_by_hand_steers_the_alarm_and_lights_too(branch):
    """The simulator's `mode` (and its start mode) set the door's mode by hand while the stored
    schedule (empty here: closed at every hour) stops steering; the building outputs must
    follow that mode too, or an Open+ demo at night starts with the intruder alarm armed."""
    sim, service, wait_for = branch
    assert sim.outputs()["alarm"] is False  # Open+ by hand: the alarm line is not armed
    service.set_mode(DoorMode.CLOSED)
    assert wait_for(lambda s: s.mode == DoorMode.CLOSED)
    assert sim.outputs()["alarm"] is True  # closed with nobody inside: armed
    service.set_mode(DoorMode.OPENPLUS)
    assert wait_for(lambda s: s.mode == DoorMode.OPENPLUS)
    assert sim.outputs()["alarm"] is False


def test_relay_off_command_drives_the_pin_locked(tmp_path, monkeypatch, capsys):
    from gpiozero import Device

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(tmp_path))
    (tmp_path / STATE_FILE).write_text(json.dumps({"relay_unlocked": True, "phase": "unlocked"}))
    try:
        assert main(["relay-off"]) == 0
        assert Device.pin_factory.pin(17).state == 0
    finally:
        if Device.pin_factory is not None:
            Device.pin_factory.close()
            Device.pin_factory = None
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["relay_unlocked"] is False and state["phase"] == "stopped"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_simulator(data_dir: Path, port: int = 0, unlock_seconds: float | None = None) -> subprocess.Popen:
    """`unlock_seconds`: a pulse long enough that a loaded machine's slow sign-in (argon2)
    still finds the door unlocked (a test of what a stop does mid-pulse)."""
    env = {**os.environ, "OPENPLUS_DOOR_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("OPENPLUS_DOOR_CONFIG", None)
    if unlock_seconds is not None:
        config = data_dir / "test-door.toml"
        config.write_text(f"[door]\nunlock_seconds = {unlock_seconds}\n")
        env["OPENPLUS_DOOR_CONFIG"] = str(config)
    return subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "simulate", "--members", "10", "--port", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        text=True,
    )


def post_json(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def get_json(port: int, path: str, token: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def read_state(data_dir: Path) -> dict:
    try:
        return json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def wait_for_state(data_dir: Path, predicate, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # another process: polling its file is the only way
        state = read_state(data_dir)
        if predicate(state):
            return state
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"state not reached; last {read_state(data_dir)}; output:\n{proc.communicate()[0]}")


def grant_in_subprocess(data_dir: Path, port: int = 0) -> subprocess.Popen:
    proc = start_simulator(data_dir, port, unlock_seconds=60)
    wait_for_state(data_dir, lambda s: s.get("mode") == "openplus", proc)
    proc.stdin.write("card 29990000000001\nkeys 1234#\n")
    proc.stdin.flush()
    wait_for_state(data_dir, lambda s: s.get("relay_unlocked") is True, proc)
    return proc


@pytest.mark.slow  # a simulate process and a full pulse: ~5 s each
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_an_unlock_pulse_leaves_the_relay_locked(tmp_path, signum):
    port = free_port()
    proc = grant_in_subprocess(tmp_path, port)
    # The simulated branch serves the API too; a demo user can see the door unlocked.
    token = post_json(port, "/api/v1/auth/token", {"username": "security", "password": "openplus-demo"})
    door = get_json(port, "/api/v1/door", token["access_token"])
    assert door["relay_unlocked"] is True and door["mode"] == "openplus"
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    state = read_state(tmp_path)
    assert state["relay_unlocked"] is False and state["phase"] == "idle", state
    assert "stopped; relay locked" in output


@pytest.mark.slow
def test_sigkill_during_a_pulse_then_relay_off_as_systemd_does(tmp_path):
    proc = grant_in_subprocess(tmp_path)
    proc.kill()
    proc.communicate(timeout=20)
    assert read_state(tmp_path)["relay_unlocked"] is True  # nobody could lock it: it died
    env = {
        **os.environ,
        "OPENPLUS_DOOR_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "GPIOZERO_PIN_FACTORY": "mock",
    }
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "relay-off"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert read_state(tmp_path)["relay_unlocked"] is False


@pytest.mark.slow  # a simulate process: ~4 s
def test_quit_at_the_console_stops_the_simulator_with_the_relay_locked(tmp_path):
    """`quit` is a person asking to stop (it used to leave the simulator serving until a
    signal, unless --exit-at-eof was given); the end of piped input without that flag keeps
    serving, as before."""
    proc = start_simulator(tmp_path)
    output, _ = proc.communicate("status\nquit\n", timeout=60)
    assert proc.returncode == 0, output
    assert "stopped; relay locked" in output
