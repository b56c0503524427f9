"""Last-key-to-relay latency of the door, idle and while other processes load the machine.

What is measured: `keypress_to_relay`, as in bench/door_latency.py: from the moment the '#'
KeyPress reaches the door loop's queue to the moment the lock relay's mock pin goes high (PIN
check, access decision, relay). Each sample is a valid member (demo members 1-100,000 that may
enter) presenting the card on the barcode scanner's pty and typing 1234# as 4-bit Wiegand bursts
on gpiozero mock pins; the pulse is ended by opening and shutting the door.

How the door runs: in this process as `openplus-door serve` runs it: BranchService on simulated
hardware (controller/sim/hardware.py), with the schedule stored in the database (no mode set by
hand), the door link server whose schedule_changed reloads the schedule from the database, and
logging configured at info (to a file in the temporary data directory). The stored schedule
(and every one uploaded in phase (d)) is Open+ around the clock as 48 half-hour windows on each
weekday (336 windows), so the door stays in Open+ through every phase. The admin API and pages
run as `openplus-door web` in a child process at nice 10, its autogroup too (cli_web.WebChild,
as under the simulator; the production unit has Nice=10 and CPUWeight=20), on 127.0.0.1 and a
free port. The load clients stand in for other machines and run at nice 19 (LoadClient).

Conditions, each load coming from processes other than the door's (each in its own session,
as a separate login or unit would be):
  (a) idle: nothing but the door and the idle web process;
  (b) logins: bench/support/load_clients.py, waves of 40 concurrent wrong logins to POST
      /api/v1/auth/token, each with its own username and source address in 127.0.0.0/8 so the
      login throttle never answers 429 before hashing (logins_hashed counts the 401s);
  (c) import: `openplus-door members import` of a 1,000,000-row CSV (the bench's members keep
      their cards and PIN) at normal priority; the door is measured for the whole import;
  (d) schedule: bench/support/load_clients.py PUTs schedules to /api/v1/schedule with a
      manager's token, back to back, alternating the 336-window week and the same week plus
      one date of special hours (384 windows; Open+ too), so every upload is a change; each
      reaches the door through the door link. Not thousands of overlapping windows: that is
      issue 11.

The door process is not made real-time and nothing in it is tuned: the figures are the
product's as it stands. The machine's load average is printed at the start and the end, since
other work on the same machine shows up in the figures.

400 samples idle, 200 per load (the import: every sample while it runs, which is some 200 in
a minute; run again if under 150). An attempt
whose relay never rises is counted as `_lost`, not as a latency: here the keypad's bits are
driven from this process, so a stall of over 25 ms inside one key's 4-bit burst splits it and
the keypad drops the key (`_keypad_frames_dropped`).

Output: one `name: value unit` per line; the last line is the headline: the worst p99 of (b),
(c) and (d) divided by the idle p99. Target: under 1.5. `--only logins,schedule` runs the idle
phase and just those loads (a quicker look while working on one of them; the headline is then
the worst of those).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing, contextmanager
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpiozero.pins.mock import MockFactory  # noqa: E402

from bench.support.relay_timing import TimedPin, percentile  # noqa: E402
from controller.cli.web import WebChild, nice_the_session  # noqa: E402
from controller.config.defaults import DATA_DIR_ENV  # noqa: E402
from controller.config.settings import load_settings  # noqa: E402
from controller.domain.clock import local_date, utc_now  # noqa: E402
from controller.domain.modes import DoorMode  # noqa: E402
from controller.domain.schedule import WEEKDAYS, Schedule, parse_schedule  # noqa: E402
from controller.door.branch import BranchService  # noqa: E402
from controller.door.link import LINK_ENV, link_path  # noqa: E402
from controller.door.link_server import DoorLinkServer  # noqa: E402
from controller.services.demo import DEMO_PIN, barcode, demo_members, rfid_tag  # noqa: E402
from controller.services.members import MemberAdmin  # noqa: E402
from controller.services.runtime import Runtime  # noqa: E402
from controller.services.use_cases import create_user  # noqa: E402
from controller.sim.hardware import KEYPAD_D0, KEYPAD_D1, SimulatedHardware  # noqa: E402
from controller.store.db import transaction  # noqa: E402
from controller.store.schedule import ScheduleStore, load_schedule  # noqa: E402
from controller.system.logging_setup import configure_logging  # noqa: E402
from drivers.base import KeyPress  # noqa: E402

MEMBERS = 100_000  # in the database before the import (as bench/door_latency.py)
IMPORT_ROWS = 1_000_000
IDLE_SAMPLES = 400
LOAD_SAMPLES = 200  # (b) and (d)
IMPORT_MIN_SAMPLES = 150  # (c) takes every sample while the import runs; rerun below this
WINDOW_MINUTES = 30  # 48 Open+ windows a day, 336 a week
MANAGER, MANAGER_PASSWORD = "bench-manager", "bench-manager-password"
# Not in bench/ itself: `./dev bench` runs every bench/*.py.
LOAD_CLIENTS = Path(__file__).resolve().parent / "support" / "load_clients.py"
OPENPLUS_DOOR = Path(sys.executable).parent / "openplus-door"


def open_plus_week(special_day=None) -> dict:
    """Open+ around the clock as many small windows (adjacent, not overlapping); with
    `special_day`, also that date as special hours, Open+ all day in the same small windows
    (still Open+ throughout: it only makes a second, different document)."""

    def day() -> list[dict]:
        edges = list(range(0, 24 * 60 + 1, WINDOW_MINUTES))
        return [
            {
                "start": f"{a // 60:02d}:{a % 60:02d}",
                "end": "24:00" if b == 24 * 60 else f"{b // 60:02d}:{b % 60:02d}",
                "kind": "openplus",
            }
            for a, b in pairwise(edges)
        ]

    exceptions = (
        []
        if special_day is None
        else [{"date": special_day.isoformat(), "kind": "special_hours", "windows": day(), "note": "bench"}]
    )
    return {
        "weekly": {weekday: day() for weekday in WEEKDAYS},
        "exceptions": exceptions,
        "holidays_closed": [],
    }


def write_import_csv(path: Path, today) -> None:
    """IMPORT_ROWS members, all allowed in, PIN 1234; rows 1..MEMBERS keep the patron ids and
    cards the database already has, so the bench's members go on being granted."""
    valid_until = (today + timedelta(days=365)).isoformat()
    registered = (today - timedelta(days=30)).isoformat()
    with open(path, "w", encoding="utf-8") as out:
        out.write("patron_id;cards;name;birth_date;openplus_registered;valid_until;blocked;category;pin\n")
        out.writelines(
            f"DEMO{n:06d};{barcode(n)}|{rfid_tag(n)};B.{n % 97}. (bench);1980-01-01;"
            f"{registered};{valid_until};nee;member;{DEMO_PIN}\n"
            for n in range(1, IMPORT_ROWS + 1)
        )


@contextmanager
def stderr_to(path: Path):
    """Our fd 2 goes to `path` meanwhile (a child started now keeps it: the web's log)."""
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(fd)
        os.close(saved)


def _as_another_machine() -> None:
    """In the load client's child, before it runs: lowest priority, its autogroup too."""
    os.nice(19)
    nice_the_session(19)


class LoadClient:
    """bench/support/load_clients.py in its own process (and session); stop() closes its
    stdin and reads its counts.

    The clients stand in for browsers and scripts on other machines: they run at nice 19,
    their session's autogroup too, so that they take the CPU the controller leaves over
    instead of a share of their own that on a branch would be another computer's."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(LOAD_CLIENTS), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_as_another_machine,
        )

    def wait_running(self, timeout: float = 120.0) -> None:
        line = self._readline(timeout)
        if line.strip() != "running":
            raise SystemExit(f"load client did not start: {line!r}")

    def _readline(self, timeout: float) -> str:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return box[0] if box else ""

    def stop(self) -> dict:
        self.process.stdin.close()
        line = self._readline(300)
        self.process.wait(timeout=30)
        return json.loads(line)


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        config = tmp / "bench.toml"
        config.write_text(f'[storage]\ndata_dir = "{tmp}"\n\n[logging]\nlevel = "info"\n')
        os.environ[DATA_DIR_ENV] = str(tmp)  # this process, the web child and the import
        os.environ.pop(LINK_ENV, None)
        self.config = config
        settings = load_settings(config)
        self.sim = SimulatedHardware.create(settings, MockFactory(pin_class=TimedPin))
        self.settings = self.sim.settings
        self.today = local_date(utc_now())
        runtime = Runtime.open(self.settings)
        rows = demo_members(MEMBERS, self.today)
        with closing(runtime.connection()) as conn:
            MemberAdmin(runtime.members(conn), runtime.events(conn), runtime.clock, "b").replace_list(
                list(enumerate(rows, 1)), "bench"
            )
            with transaction(conn):
                ScheduleStore(conn).save(parse_schedule(open_plus_week()), runtime.clock(), "bench")
        create_user(runtime, MANAGER, MANAGER_PASSWORD, ["manager"], "bench")
        self.ok_members = [
            n
            for n in range(7, MEMBERS)
            if rows[n - 1].entry_blocked is False
            and rows[n - 1].openplus_registered_on is not None
            and rows[n - 1].valid_until > self.today
            and rows[n - 1].adult_on <= self.today
        ]
        configure_logging(
            self.settings.logging.level,  # as serve does, into a file
            stream=open(tmp / "door.log", "a", encoding="utf-8", buffering=1),
        )
        with closing(runtime.connection()) as conn:
            schedule = load_schedule(conn)
        self.service = service = BranchService(self.settings, schedule, pin_factory=self.sim.factory)

        # When each door-link reload ran (read, parse, apply), to tell its cost from other
        # causes of a slow entry (perf_counter spans, like the samples).
        self.reload_spans: list[tuple[float, float]] = []
        reload_began = [0.0]

        def reload_schedule() -> Schedule:  # as cli_service._run
            reload_began[0] = time.perf_counter()
            with closing(service.runtime.connection()) as conn:
                return load_schedule(conn)

        plain_schedule_changed = service.schedule_changed

        def timed_schedule_changed(schedule: Schedule) -> None:
            plain_schedule_changed(schedule)
            self.reload_spans.append((reload_began[0], time.perf_counter()))

        service.schedule_changed = timed_schedule_changed  # type: ignore[method-assign]  # a timer around it

        self.link = DoorLinkServer(
            link_path(self.settings.data_dir),
            service,
            reload_schedule,
            between_members=service.between_members,
        )
        self.hash_queued = 0.0
        plain_submit = service.loop.submit

        def timed_submit(item):
            if isinstance(item, KeyPress) and item.key == "#":
                self.hash_queued = time.perf_counter()
            plain_submit(item)

        service.loop.submit = timed_submit  # readers get this sink at start()
        self.awaiting = threading.Event()
        self.presented_at = utc_now()

        def on_snapshot(s) -> None:  # observers lag under load: only this card's prompt counts
            if s.phase.value == "awaiting_pin" and s.pin_keys == 0 and s.at >= self.presented_at:
                self.awaiting.set()

        service.listeners.append(on_snapshot)
        self.keypad = next(r for r in service.hardware.readers if r.name == "keypad")
        self.lost = 0
        self.drops_before = 0
        self.reload_overlaps: list[float] = []  # latencies of entries a schedule reload overlapped
        self.web: WebChild | None = None
        self.rng = random.Random(3)

    def start(self) -> str:
        self.sim.at_rest()
        self.service.start()
        self.service.wait_readers_connected(5)
        self.link.start()
        self.web = WebChild(self.settings, self.config, "127.0.0.1", 0, out=lambda line: None)
        with stderr_to(self.tmp / "web.log"):
            port = self.web.start()
        self.wait_mode(DoorMode.OPENPLUS)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        try:
            self.service.stop()
        finally:
            self.link.stop()
            if self.web is not None:
                self.web.stop()
            self.sim.close()

    def wait_mode(self, mode: DoorMode, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.service.snapshot()
            if snapshot is not None and snapshot.mode is mode:
                return
            time.sleep(0.05)
        raise SystemExit(f"the door is not in {mode.value}: {self.service.snapshot()}")

    def sample(self) -> float | None:
        """One member at the door: card, 1234#, the relay; the door opened and shut. The ms from
        the '#' on the door's queue to the relay pin going high; None if the relay stayed off."""
        sim = self.sim
        self.awaiting.clear()
        TimedPin.rose.clear()
        self.hash_queued = 0.0
        self.presented_at = utc_now()
        sim.present_card(barcode(self.rng.choice(self.ok_members)))
        if not self.awaiting.wait(10):
            raise SystemExit("card was not read")
        sim.press_keys(DEMO_PIN)
        for bit in (1, 0, 1, 1):  # '#'
            pin = sim.factory.pin(KEYPAD_D1 if bit else KEYPAD_D0)
            pin.drive_low()
            pin.drive_high()
        if not TimedPin.rose.wait(10) or not self.hash_queued:
            # A lost attempt: in this simulation the keypad's bits are driven from this process,
            # so a stall of over 25 ms inside a 4-bit burst splits it and the keypad drops the
            # key (keypad_frames_dropped). Counted, and the door left to time the entry out.
            self.lost += 1
            time.sleep(self.settings.door.pin_timeout_seconds + 1)
            self.service.loop.wait_idle(5)
            return None
        latency = (TimedPin.rose_at - self.hash_queued) * 1000
        if any(begin < TimedPin.rose_at and end > self.hash_queued for begin, end in self.reload_spans[-8:]):
            self.reload_overlaps.append(latency)
        sim.open_door()
        sim.close_door()  # ends the pulse at once
        self.service.loop.wait_idle(5)
        return latency

    def begin_phase(self) -> None:
        self.lost = 0
        self.reload_overlaps = []
        self.drops_before = self.keypad.stats.frames_dropped

    def measure(self, until: Callable[[list[float]], bool]) -> list[float]:
        samples: list[float] = []
        while not until(samples):
            latency = self.sample()
            if latency is not None:
                samples.append(latency)
        snapshot = self.service.snapshot()
        if snapshot is None or snapshot.mode is not DoorMode.OPENPLUS:
            raise SystemExit(f"the door left Open+ during the phase: {snapshot}")
        return samples


class Output(list):
    """Lines printed as they come (the headline last)."""

    def __iadd__(self, lines):
        print("\n".join(lines), flush=True)
        return super().__iadd__(lines)


def report(out: Output, name: str, samples: list[float], bench: Bench) -> float:
    p99 = percentile(samples, 99)
    out += [
        f"{name}_samples: {len(samples)} count",
        f"{name}_lost: {bench.lost} count",
        f"{name}_keypad_frames_dropped: {bench.keypad.stats.frames_dropped - bench.drops_before} count",
        f"{name}_p50: {statistics.median(samples):.2f} ms",
        f"{name}_p99: {p99:.2f} ms",
        f"{name}_max: {max(samples):.2f} ms",
        # How many entries (from the '#' to the relay) a door-link schedule reload in the door
        # process overlapped, and the slowest of those: its cost, told from other causes.
        f"{name}_entries_with_a_reload: {len(bench.reload_overlaps)} count",
        f"{name}_entries_with_a_reload_max: {max(bench.reload_overlaps, default=0.0):.2f} ms",
    ]
    return p99


LOADS = ("logins", "import", "schedule")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        type=lambda text: [name for name in text.split(",") if name],
        default=list(LOADS),
        help=f"comma-separated loads to run after the idle phase (default: {','.join(LOADS)})",
    )
    only = parser.parse_args().only
    if not only or set(only) - set(LOADS):
        parser.error(f"--only takes some of {','.join(LOADS)}")
    begun = time.monotonic()
    out = Output()
    out += [f"loadavg_1m_at_start: {os.getloadavg()[0]:.2f} load"]  # others on this machine?
    p99s: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="door-under-load-") as tmp_name:
        tmp = Path(tmp_name)
        bench = Bench(tmp)
        csv_file = tmp / "members-1m.csv"
        write_import_csv(csv_file, bench.today)
        schedule_files = [tmp / "schedule-a.json", tmp / "schedule-b.json"]
        schedule_files[0].write_text(json.dumps(open_plus_week()))
        schedule_files[1].write_text(json.dumps(open_plus_week(bench.today + timedelta(days=200))))
        url = bench.start()
        try:
            # (a) idle
            bench.begin_phase()
            p99s["idle"] = report(out, "idle", bench.measure(lambda s: len(s) >= IDLE_SAMPLES), bench)

            if "logins" in only:
                logins_phase(bench, url, out, p99s)
            if "import" in only:
                import_phase(bench, csv_file, out, p99s)
            if "schedule" in only:
                schedule_phase(bench, url, schedule_files, out, p99s)
        finally:
            bench.stop()
    worst = max(p99s[name] for name in only)
    out += [
        f"loadavg_1m_at_end: {os.getloadavg()[0]:.2f} load",
        f"bench_wall: {time.monotonic() - begun:.0f} s",
        f"door_under_load_worst_p99_ratio: {worst / p99s['idle']:.2f} ratio",
    ]


def logins_phase(bench: Bench, url: str, out: Output, p99s: dict[str, float]) -> None:
    """(b) 40 concurrent wrong logins, in waves, from another process."""
    bench.begin_phase()
    load = LoadClient("logins", url)
    load.wait_running()
    samples = bench.measure(lambda s: len(s) >= LOAD_SAMPLES)
    counts = load.stop()
    p99s["logins"] = report(out, "logins", samples, bench)
    hashed, paused = counts["statuses"].get("401", 0), counts["statuses"].get("429", 0)
    out += [
        f"logins_waves: {counts['waves']} count",
        f"logins_hashed: {hashed} count",
        f"logins_paused: {paused} count",
        f"logins_other: {counts['requests'] - hashed - paused} count",
        f"logins_request_p50: {counts['request_p50_s']:.2f} s",
    ]


def import_phase(bench: Bench, csv_file: Path, out: Output, p99s: dict[str, float]) -> None:
    """(c) the 1,000,000-row import, a CLI process at normal priority."""
    bench.begin_phase()
    samples: list[float] = []
    imports, import_seconds, first_run_samples = 0, [], 0
    while len(samples) < IMPORT_MIN_SAMPLES:  # a second run finds every row unchanged
        started = time.monotonic()
        imp = subprocess.Popen(
            [str(OPENPLUS_DOOR), "members", "import", str(csv_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OPENPLUS_DOOR_CONFIG": str(bench.config)},
            start_new_session=True,
        )  # as from an admin's own login
        samples += bench.measure(lambda s, imp=imp: imp.poll() is not None)
        stdout, stderr = imp.communicate()
        import_seconds.append(time.monotonic() - started)
        imports += 1
        first_run_samples = first_run_samples or len(samples)
        if imp.returncode != 0:
            raise SystemExit(f"import failed: {stdout} {stderr}")
    p99s["import"] = report(out, "import", samples, bench)
    out += [
        f"import_rows: {IMPORT_ROWS} count",
        f"import_runs: {imports} count",
        f"import_wall: {import_seconds[0]:.1f} s",  # the first run: the real import
        f"import_first_run_samples: {first_run_samples} count",
    ]


def schedule_phase(
    bench: Bench, url: str, schedule_files: list[Path], out: Output, p99s: dict[str, float]
) -> None:
    """(d) a large schedule, PUT back to back through the API by a manager."""
    bench.begin_phase()
    load = LoadClient("schedule", url, MANAGER, MANAGER_PASSWORD, *(str(path) for path in schedule_files))
    load.wait_running()
    samples = bench.measure(lambda s: len(s) >= LOAD_SAMPLES)
    counts = load.stop()
    p99s["schedule"] = report(out, "schedule", samples, bench)
    per_day = 24 * 60 // WINDOW_MINUTES
    uploaded = counts["statuses"].get("200", 0)
    out += [
        f"schedule_windows: {7 * per_day} count",
        f"schedule_windows_alternate: {8 * per_day} count",
        f"schedule_uploads: {uploaded} count",
        f"schedule_uploads_not_200: {counts['uploads'] - uploaded} count",
        f"schedule_applied_false: {counts['applied'].get('False', 0)} count",
        f"schedule_upload_p50: {counts['upload_p50_s']:.2f} s",
        f"schedule_upload_max: {counts['upload_max_s']:.2f} s",
    ]


if __name__ == "__main__":
    main()
