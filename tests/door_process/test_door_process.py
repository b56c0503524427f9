"""The door in its own process: `openplus-door simulate` runs the door (mock pins, ptys) and the
web pages as a child process. The web side can die or hang without the door noticing, and
SIGTERM ends the door process within 3 s with the relay locked, whatever the web side does."""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from controller.cli.web import wait_exit
from controller.door.link import link_path
from controller.door.link_client import DoorLinkClient
from tests.door_process.conftest import (
    DEMO_CARD,
    DEMO_PIN,
    PULSE_SECONDS,
    WAIT,
    SimulatedBranch,
    is_web_process,
)

# Each test starts `openplus-door simulate` (two processes): ~45 s in all, left out of the
# date guard (./dev test).
pytestmark = pytest.mark.slow

STOP_SECONDS = 3.0


def unlocked(text: str) -> bool:
    return text.startswith("[door]") and "relay UNLOCKED" in text


def locked(text: str) -> bool:
    return text.startswith("[door]") and "relay locked" in text


def enter(branch: SimulatedBranch) -> tuple[int, float]:
    """Card and PIN at the entrance; (output index, time) of the relay switching on."""
    mark = len(branch.lines)
    branch.send(f"card {DEMO_CARD}")
    branch.wait_line(lambda text: "awaiting_pin" in text, after=mark)
    branch.send(f"keys {DEMO_PIN}#")
    index, at, _ = branch.wait_line(unlocked, after=mark)
    return index, at


def pulse_after(branch: SimulatedBranch, index: int, at: float) -> float:
    """Seconds from the relay switching on (line `index`) to it switching off again."""
    _, off, _ = branch.wait_line(locked, after=index + 1, timeout=PULSE_SECONDS + WAIT)
    return off - at


def wait_gone(pid: int, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:  # another process's end: only /proc tells
        if not is_web_process(pid):
            return True
        pause.wait(0.05)
    return not is_web_process(pid)


def nice_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of proc(5), counted from the state (field 3)


def autogroup_nice_of(pid: int) -> int | None:
    """The nice value of the process's autogroup ("/autogroup-42 nice 10"); None without.

    Some kernels and sandboxes (gVisor, the CI machine) have the file but leave it empty."""
    try:
        text = Path(f"/proc/{pid}/autogroup").read_text()
    except OSError:
        return None
    found = re.fullmatch(r"/autogroup-\d+ nice (-?\d+)\s*", text)
    return int(found.group(1)) if found else None


def test_web_is_its_own_lower_priority_process_serving_the_door_over_the_link(start_branch):
    branch = start_branch()
    assert branch.web_pid != branch.proc.pid and is_web_process(branch.web_pid)
    assert nice_of(branch.web_pid) - nice_of(branch.proc.pid) == min(10, 19 - nice_of(branch.proc.pid))
    if autogroup_nice_of(branch.proc.pid) is not None:  # its own session: its autogroup too
        assert autogroup_nice_of(branch.web_pid) == nice_of(branch.web_pid)
    token = branch.token()
    status, door = branch.get("/api/v1/door", token)
    assert status == 200 and door["mode"] == "openplus" and door["relay_unlocked"] is False
    status, health = branch.get("/api/v1/health")
    assert status == 200 and health["status"] == "ok", health
    assert 0 <= health["door_last_turn_seconds"] < 1.0


def test_web_killed_while_a_member_enters_the_door_gives_the_full_pulse_and_grants_again(start_branch):
    branch = start_branch()
    mark = len(branch.lines)
    branch.send(f"card {DEMO_CARD}")
    branch.wait_line(lambda text: "awaiting_pin" in text, after=mark)
    os.kill(branch.web_pid, signal.SIGKILL)  # mid-entry: card read, PIN not yet typed
    branch.send(f"keys {DEMO_PIN}#")
    index, at, _ = branch.wait_line(unlocked, after=mark)
    assert PULSE_SECONDS - 0.25 <= pulse_after(branch, index, at) <= PULSE_SECONDS + 1.0
    branch.wait_line(lambda text: text.startswith("the web process ended"), after=mark)
    assert branch.proc.poll() is None  # the door did not go with it

    index, at = enter(branch)  # and the door grants as before
    assert PULSE_SECONDS - 0.25 <= pulse_after(branch, index, at) <= PULSE_SECONDS + 1.0
    snapshot = DoorLinkClient(link_path(branch.data_dir)).snapshot()
    assert snapshot is not None and snapshot.relay_unlocked is False


def test_sigterm_during_a_pulse_with_slow_web_clients_exits_within_3_s_locked(start_branch):
    branch = start_branch()
    # A web client that never finishes its request, and one on the door link that never
    # finishes its line: neither may hold the door process up.
    slow_http = socket.create_connection(("127.0.0.1", branch.port), timeout=WAIT)
    slow_http.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    slow_link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    folder = os.open(link_path(branch.data_dir).parent, os.O_PATH | os.O_DIRECTORY)
    try:
        slow_link.connect(f"/proc/self/fd/{folder}/{link_path(branch.data_dir).name}")
    finally:
        os.close(folder)
    slow_link.sendall(b'{"op": "sta')
    try:
        enter(branch)
        started = time.monotonic()
        branch.proc.send_signal(signal.SIGTERM)
        assert wait_exit(branch.proc, 10)
        took = time.monotonic() - started
    finally:
        slow_http.close()
        slow_link.close()
    assert branch.proc.returncode == 0, branch.output()
    assert took < STOP_SECONDS, f"the door process took {took:.2f} s to exit"
    print(f"SIGTERM to exit: {took:.2f} s")
    state = branch.state()
    assert state["relay_unlocked"] is False and state["phase"] == "idle", state
    branch.wait_line(lambda text: text == "stopped; relay locked")
    assert wait_gone(branch.web_pid, timeout=1.0)  # stopped by the door, not left behind
    assert not link_path(branch.data_dir).exists()


def test_signals_in_quick_succession_do_not_cut_the_stop_short(start_branch):
    branch = start_branch()
    enter(branch)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):  # impatient Ctrl-Cs
        branch.proc.send_signal(signum)
    assert wait_exit(branch.proc, 10)
    assert branch.proc.returncode == 0, branch.output()
    branch.wait_line(lambda text: text == "stopped; relay locked")
    assert branch.state()["relay_unlocked"] is False
    assert wait_gone(branch.web_pid, timeout=1.0)


def test_the_web_child_ends_when_the_door_process_is_killed(start_branch):
    branch = start_branch()
    branch.proc.kill()  # no chance to stop its child: the pipe on the child's stdin ends
    assert wait_exit(branch.proc, 10)
    assert wait_gone(branch.web_pid), "the web process outlived the door process"


def test_systemd_hears_ready_the_watchdog_while_the_door_turns_and_stopping(start_branch, notify_socket):
    branch = start_branch(
        {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "1500000"}
    )  # a ping at most every 0.5 s
    seen = notify_socket.wait_for("READY=1")
    assert all("WATCHDOG=1" == m or m.startswith("READY=1") for m in seen), seen
    for _ in range(3):
        assert notify_socket.wait_for("WATCHDOG=1", timeout=2.0)
    enter(branch)  # pings go on through a grant
    notify_socket.wait_for("WATCHDOG=1", timeout=2.0)
    branch.proc.send_signal(signal.SIGTERM)
    notify_socket.wait_for("STOPPING=1")
    assert wait_exit(branch.proc, 10)
    assert branch.proc.returncode == 0
