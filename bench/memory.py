"""Memory of the door process and of the web process after 10,000 simulated entries, camera on.

Runs `openplus-door simulate` in a subprocess, as a library would run a demo: demo members,
the real door on mock pins and pseudo-terminals, the camera recording the simulator's looping
test video (the simulator turns it on by itself), the web process as its child. Each entry is
a card held to the scanner and the demo PIN typed on the Wiegand keypad, through the console
(lines on the simulator's stdin, as fast as it takes them; each `keys` line waits for the
door's answer). Every 1,000 entries the bench reads /api/v1/health and /metrics as a monitor
would, so the web process serves something too.

Then it reads VmRSS (and VmHWM, the peak) from /proc/PID/status: the door process (the
simulator), the camera recorder (its child process, when the recorder runs in one) and the web
process (the other child; its pid is in the simulator's banner). Targets: door under 80 MB,
web under 150 MB. Lines `name: value unit`, the headline last: the door process's RSS.

    .venv/bin/python bench/memory.py [--entries 10000] [--members 200]

Note the machine's load average (printed) when comparing runs: the figures are memory, not
time, but a loaded machine takes longer to get there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.cli.run import DEMO_PASSWORD  # noqa: E402 - after the path is set
from controller.services.demo import DEMO_PIN, barcode  # noqa: E402

ENTRIES = 10_000
MEMBERS = 200
SCRAPE_EVERY = 1_000
DOOR_TARGET_MB, WEB_TARGET_MB = 80, 150
_WEB = re.compile(r"Admin API and pages: http://(?P<host>[^:/]+):(?P<port>\d+)/.*web process (?P<pid>\d+)")


def status_kb(pid: int, field: str) -> int | None:
    """A `VmRSS`-style field of /proc/PID/status in kB; None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def loads(pid: int, library: str) -> str:
    """'yes' when a shared library whose path contains `library` is mapped into the process
    (how a module like cv2, once imported, shows from outside), else 'no'."""
    try:
        return "yes" if f"/{library}" in Path(f"/proc/{pid}/maps").read_text() else "no"
    except OSError:
        return "gone"


def children(pid: int) -> list[int]:
    """The child processes of `pid` (every thread's list: a child belongs to the thread that
    forked it)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def role(pid: int) -> str:
    """What a child of the door process is: the camera recorder (a multiprocessing spawn
    child) or multiprocessing's resource tracker."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"child_{pid}"
    return "multiprocessing_resource_tracker" if "resource_tracker" in command else "camera_recorder"


class Simulator:
    """`openplus-door simulate` in a subprocess; counts the entries its console has taken."""

    def __init__(self, data_dir: Path, members: int) -> None:
        env = {
            **os.environ,
            "OPENPLUS_DOOR_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",  # each console line as it is printed, not per 8 KB
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "simulate",
                "--exit-at-eof",
                "--port",
                "0",
                "--members",
                str(members),
                "--mode",
                "openplus",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
            cwd=ROOT,
        )
        self.web_pid: int | None = None
        self.web_url: str | None = None
        self.cards_taken = 0
        self.status_seen = 0
        self._changed = threading.Condition()
        threading.Thread(target=self._read, name="sim-output", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:  # the door's observer thread prints too: lines may be mixed
                self.cards_taken += line.count("(card held to the")
                self.status_seen += line.count("outputs: relay")
                if (match := _WEB.search(line)) is not None:
                    self.web_pid = int(match["pid"])
                    self.web_url = f"http://{match['host']}:{match['port']}"
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, test, timeout: float) -> bool:
        with self._changed:
            return (
                self._changed.wait_for(lambda: test() or self.process.poll() is not None, timeout)
                and self.process.poll() is None
            )

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()  # --exit-at-eof: the simulator stops, locks, stops its web child
        return self.process.wait(timeout=30)


def get(url: str, token: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def scrape(base: str, token: str) -> None:
    """What a monitor reads every minute or so; a failure is reported, not fatal."""
    for path, bearer in (("/api/v1/health", None), ("/metrics", token)):
        try:
            get(f"{base}{path}", bearer)
        except (OSError, urllib.error.HTTPError) as exc:
            print(f"GET {path}: {exc}", file=sys.stderr)


def login(base: str) -> str:
    body = json.dumps({"username": "security", "password": DEMO_PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])


def megabytes(kb: int | None) -> str:
    return "gone" if kb is None else f"{kb / 1024:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=ENTRIES)
    parser.add_argument("--members", type=int, default=MEMBERS)
    parser.add_argument("--scrape-every", type=int, default=SCRAPE_EVERY)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="openplus-memory-") as folder:
        sim = Simulator(Path(folder), args.members)
        try:
            if not sim.wait_for(lambda: sim.web_url is not None, 120):
                print("the simulator did not start (or its web process did not)", file=sys.stderr)
                return 1
            assert sim.web_url is not None and sim.web_pid is not None
            token = login(sim.web_url)
            started = time.monotonic()
            for number in range(args.entries):
                sim.send(f"card {barcode(1 + number % args.members)}")
                sim.send(f"keys {DEMO_PIN}#")
                if (number + 1) % args.scrape_every == 0:
                    seen = sim.status_seen
                    sim.send("status")  # answered once every entry before it is done
                    sim.wait_for(lambda seen=seen: sim.status_seen > seen, 600)
                    scrape(sim.web_url, token)
                    print(
                        f"{number + 1} entries, {time.monotonic() - started:.0f} s, door "
                        f"{megabytes(status_kb(sim.process.pid, 'VmRSS'))} MB, web "
                        f"{megabytes(status_kb(sim.web_pid, 'VmRSS'))} MB",
                        file=sys.stderr,
                    )
            seen = sim.status_seen
            sim.send("status")  # answered after every entry before it
            if not sim.wait_for(lambda: sim.status_seen > seen, 600):
                print("the simulator stopped before the last entry", file=sys.stderr)
                return 1
            seconds = time.monotonic() - started
            door_pid = sim.process.pid
            recorders = [pid for pid in children(door_pid) if pid != sim.web_pid]
            figures = {
                "entries": (str(sim.cards_taken), "entries"),
                "seconds": (f"{seconds:.0f}", "s"),
                "load_average": (f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after", ""),
                "web_peak_rss": (megabytes(status_kb(sim.web_pid, "VmHWM")), "MB"),
                "web_rss": (megabytes(status_kb(sim.web_pid, "VmRSS")), f"MB (target < {WEB_TARGET_MB})"),
                **{f"{role(pid)}_rss": (megabytes(status_kb(pid, "VmRSS")), "MB") for pid in recorders},
                "door_loads_opencv": (loads(door_pid, "cv2"), ""),
                "door_loads_numpy": (loads(door_pid, "numpy"), ""),
                "door_peak_rss": (megabytes(status_kb(door_pid, "VmHWM")), "MB"),
                "door_rss": (megabytes(status_kb(door_pid, "VmRSS")), f"MB (target < {DOOR_TARGET_MB})"),
            }
        finally:
            if sim.process.poll() is None:
                try:
                    sim.finish()
                except (OSError, subprocess.TimeoutExpired):
                    sim.process.kill()
    for name, (value, unit) in figures.items():
        print(f"{name}: {value} {unit}".rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
