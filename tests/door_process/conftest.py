"""Fixtures for the door in its own process: a systemd notify socket to listen on, a simulated
door in this process, and `openplus-door simulate` (door + web child) in a subprocess whose
console output is read line by line as it comes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.cli.web import wait_exit
from controller.config.settings import parse_settings
from controller.domain.clock import local_date
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.door.branch import BranchService
from controller.door.state_file import STATE_FILE
from controller.services.members import MemberAdmin
from controller.sim.hardware import SimulatedHardware
from tests.helpers import member_row_on

ROOT = Path(__file__).resolve().parents[2]
WAIT = 5.0
START_WAIT = 60.0  # a cold start imports OpenCV and FastAPI and makes the demo data
PULSE_SECONDS = 2.0  # door.unlock_seconds for the subprocess tests: short, still measurable
DEMO_CARD, DEMO_PIN = "29990000000001", "1234"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the developer's shell or a systemd session leaks into these tests."""
    for name in (
        "OPENPLUS_DOOR_CONFIG",
        "OPENPLUS_DOOR_DATA_DIR",
        "OPENPLUS_DOOR_LINK",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ):
        monkeypatch.delenv(name, raising=False)


# --- systemd's notify socket --------------------------------------------------------------------
class NotifySocket:
    """A datagram socket in the abstract namespace standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.address = f"@openplus-door-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + self.address[1:].encode())

    def receive(self, timeout: float) -> str | None:
        """The next datagram, or None when none arrives within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except TimeoutError:
            return None

    def wait_for(self, wanted: str, timeout: float = WAIT) -> list[str]:
        """Every datagram up to and including the first holding the line `wanted`."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                break
            seen.append(message)
            if wanted in message.split("\n"):
                return seen
        raise AssertionError(f"no {wanted} within {timeout} s; got {seen}")

    def drain(self) -> list[str]:
        seen = []
        while (message := self.receive(0.001)) is not None:
            seen.append(message)
        return seen

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    listener = NotifySocket()
    yield listener
    listener.close()


# --- a simulated door in this process -----------------------------------------------------------
@dataclass
class LocalDoor:
    sim: SimulatedHardware
    service: BranchService
    wait_for: Callable[[Callable], bool]


@pytest.fixture
def make_local_door(tmp_path: Path) -> Iterator[Callable[..., LocalDoor]]:
    """Builds and starts a BranchService on mock pins and ptys (member 1: card + PIN 1234)."""
    made: list[LocalDoor] = []

    def make(**service_options) -> LocalDoor:
        settings = parse_settings({"storage": {"data_dir": str(tmp_path / "data")}}, "test")
        sim = SimulatedHardware.create(settings)
        service = BranchService(
            sim.settings,
            Schedule(),
            pin_factory=sim.factory,
            mode_override=DoorMode.OPENPLUS,
            **service_options,
        )
        with closing(service.runtime.connection()) as conn:
            MemberAdmin(
                service.runtime.members(conn), service.runtime.events(conn), service.runtime.clock, "e"
            ).replace_list(
                [(1, member_row_on(local_date(service.runtime.clock()), 1, cards=(DEMO_CARD,)))], "test"
            )
        changed = threading.Condition()

        def notify(_snapshot) -> None:
            with changed:
                changed.notify_all()

        service.listeners.append(notify)
        sim.at_rest()
        service.start()
        assert service.wait_readers_connected(WAIT)

        def wait_for(predicate) -> bool:
            with changed:
                return changed.wait_for(
                    lambda: service.snapshot() is not None and predicate(service.snapshot()), WAIT
                )

        door = LocalDoor(sim, service, wait_for)
        made.append(door)
        return door

    yield make
    for door in made:
        door.service.stop()
        door.sim.close()


# --- `openplus-door simulate` in a subprocess ----------------------------------------------------
_WEB_URL = re.compile(r"Admin API and pages: http://127\.0\.0\.1:(\d+)/ .*web process (\d+)")


@dataclass
class SimulatedBranch:
    """The simulator's process: console commands in, its output lines collected as they come."""

    proc: subprocess.Popen
    data_dir: Path
    lines: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, line)
    changed: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0
    web_pid: int = 0

    def read_output(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.changed.notify_all()
        with self.changed:
            self.lines.append((time.monotonic(), "<end of output>"))
            self.changed.notify_all()

    def send(self, *commands: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(f"{command}\n" for command in commands))
        self.proc.stdin.flush()

    def wait_line(
        self, predicate: Callable[[str], bool], after: int = 0, timeout: float = WAIT
    ) -> tuple[int, float, str]:
        """(index, time, text) of the first output line from index `after` on that matches."""

        def found():
            for index in range(after, len(self.lines)):
                if predicate(self.lines[index][1]):
                    return index
            return None

        with self.changed:
            self.changed.wait_for(lambda: found() is not None, timeout)
            index = found()
        if index is None:
            raise AssertionError(f"no such line within {timeout} s; output:\n{self.output()}")
        return index, self.lines[index][0], self.lines[index][1]

    def output(self) -> str:
        with self.changed:
            return "\n".join(text for _, text in self.lines)

    def state(self) -> dict:
        try:
            return json.loads((self.data_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def get(self, path: str, token: str | None = None, timeout: float = 10) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def token(self, user: str = "security") -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/auth/token",
            data=json.dumps({"username": user, "password": "openplus-demo"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["access_token"]


@pytest.fixture
def start_branch(tmp_path: Path) -> Iterator[Callable[..., SimulatedBranch]]:
    """Starts `openplus-door simulate` (door + web child) on a data directory in tmp_path with a
    config file giving a PULSE_SECONDS unlock pulse; waits for its banner. Kills what is left."""
    started: list[SimulatedBranch] = []

    def start(env: dict[str, str] | None = None, *args: str) -> SimulatedBranch:
        data_dir = tmp_path / "data"
        config = tmp_path / "door.toml"
        config.write_text(f"[door]\nunlock_seconds = {PULSE_SECONDS}\n", encoding="utf-8")
        full_env = {
            **os.environ,
            "OPENPLUS_DOOR_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",  # lines as they happen
            **(env or {}),
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "--config",
                str(config),
                "simulate",
                "--members",
                "10",
                "--port",
                "0",
                *args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=ROOT,
            text=True,
        )
        branch = SimulatedBranch(proc, data_dir)
        started.append(branch)
        threading.Thread(target=branch.read_output, daemon=True).start()
        _, _, banner = branch.wait_line(lambda text: bool(_WEB_URL.search(text)), timeout=START_WAIT)
        match = _WEB_URL.search(banner)
        assert match is not None
        branch.port, branch.web_pid = int(match.group(1)), int(match.group(2))
        branch.wait_line(lambda text: "openplus" in text and "relay locked" in text)
        return branch

    yield start
    for branch in started:
        if branch.proc.poll() is None:
            branch.proc.kill()
        assert wait_exit(branch.proc, 10)
        if branch.web_pid and is_web_process(branch.web_pid):
            os.kill(branch.web_pid, signal.SIGKILL)  # it ends by itself; never leave one behind


def is_web_process(pid: int) -> bool:
    """True while `pid` is an `openplus-door web` process (not a zombie, not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return b"web" in cmdline and "State:\tZ" not in status
