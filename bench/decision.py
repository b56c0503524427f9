"""Decision time with 100,000 members, the time to import a 100,000-row CSV export, and the
time and peak memory of a 1,000,000-row import.

Prints `name: value unit` lines; the last line is the headline (decision p99).
Targets on a dev machine: decision p99 under 5 ms; the 1,000,000-row import under 30 s and
under 300 MB peak RSS (a Raspberry Pi has 1-2 GB). The big import runs in a child process
(`--import-child`), so that its peak RSS is the import's and not this script's: the child
reads the file whole, as `openplus-door members import` and the API upload do.
`--big-import-only` runs only that import (and its re-import) and prints its lines.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.config.settings import parse_settings
from controller.domain.modes import DoorMode
from controller.services.access import Authorizer
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime

MEMBERS = 100_000
DECISIONS = 5_000
BIG_IMPORT = 1_000_000
HEADER = "patron_id;cards;name;birth_date;openplus_registered;valid_until;blocked;category;pin"


def export_lines(count: int):
    """The header and `count` member lines of a library-system export (each ends in \\n)."""
    rng = random.Random(7)
    yield HEADER + "\n"
    for n in range(1, count + 1):
        yield (
            f"B{n:07d};{29990000000000 + n};X.{n % 97}.;{rng.randint(1940, 2006)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)};"
            f"2025-01-01;2030-01-01;nee;member;{rng.randint(0, 999999):06d}\n"
        )


def export_csv(count: int) -> bytes:
    return "".join(export_lines(count)).encode()


def import_child(data_dir: str, csv_path: str) -> None:
    """In a child process: import the file once into `data_dir`; print seconds, CPU seconds
    and this process's peak RSS as JSON."""
    now = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    settings = parse_settings({"storage": {"data_dir": data_dir}}, "bench")
    runtime = Runtime.open(settings, clock=lambda: now)
    with closing(runtime.connection()) as conn:
        admin = MemberAdmin(runtime.members(conn), runtime.events(conn), runtime.clock, "b")
        started, cpu = time.perf_counter(), time.process_time()
        counts = admin.import_csv(Path(csv_path).read_bytes(), "bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_rss_mb": peak_kb / 1024,
                "counts": [counts.added, counts.updated, counts.unchanged, counts.removed],
            }
        )
    )


def big_import(tmp: str) -> tuple[dict, dict]:
    """The 1,000,000-row import, then the same file again (all unchanged), each in a child."""
    csv_path = Path(tmp) / "big.csv"
    with csv_path.open("w") as out:
        out.writelines(export_lines(BIG_IMPORT))
    data_dir = Path(tmp) / "big"
    data_dir.mkdir(mode=0o700)
    runs = []
    for _ in range(2):
        child = subprocess.run(
            [sys.executable, __file__, "--import-child", str(data_dir), str(csv_path)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
    first, again = runs
    assert first["counts"] == [BIG_IMPORT, 0, 0, 0], first
    assert again["counts"] == [0, 0, BIG_IMPORT, 0], again
    return first, again


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def main() -> None:
    now = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        settings = parse_settings({"storage": {"data_dir": tmp}}, "bench")
        runtime = Runtime.open(settings, clock=lambda: now)
        data = export_csv(MEMBERS)
        with closing(runtime.connection()) as conn:
            admin = MemberAdmin(runtime.members(conn), runtime.events(conn), runtime.clock, "b")
            started = time.perf_counter()
            counts = admin.import_csv(data, "bench")
            import_s = time.perf_counter() - started
            assert counts.added == MEMBERS
            started = time.perf_counter()
            admin.import_csv(data, "bench")  # everything unchanged: the daily re-import
            reimport_s = time.perf_counter() - started

            authorizer = Authorizer(
                runtime.members(conn), runtime.events(conn), runtime.hasher, settings.access, "bench"
            )
            rng = random.Random(11)
            samples = []
            for i in range(DECISIONS):
                card = str(29990000000000 + rng.randint(1, MEMBERS))
                started = time.perf_counter()
                authorizer.authorize(card, "000000", f"reader{i}", DoorMode.OPENPLUS, now)
                samples.append((time.perf_counter() - started) * 1000)
        big, big_again = big_import(tmp)
    print(f"members: {MEMBERS} count")
    print(f"import_100k_rows_s: {import_s:.2f} s")
    print(f"reimport_100k_unchanged_s: {reimport_s:.2f} s")
    print_big_import(big, big_again)
    print(f"decision_p50_ms: {statistics.median(samples):.3f} ms")
    print(f"decision_p99_ms: {percentile(samples, 99):.3f} ms")


def main_big_import_only() -> None:
    """Only the 1,000,000-row import and its unchanged re-import (`--big-import-only`): what
    to run after changing the import, without the decision and 100,000-row parts."""
    with tempfile.TemporaryDirectory() as tmp:
        big, big_again = big_import(tmp)
    print_big_import(big, big_again)


def print_big_import(big: dict, big_again: dict) -> None:
    print(f"import_1m_rows_s: {big['seconds']:.2f} s")
    print(f"import_1m_rows_cpu_s: {big['cpu_seconds']:.2f} s")
    print(f"import_1m_rows_peak_rss_mb: {big['peak_rss_mb']:.0f} MB")
    print(f"reimport_1m_unchanged_s: {big_again['seconds']:.2f} s")
    print(f"reimport_1m_unchanged_cpu_s: {big_again['cpu_seconds']:.2f} s")
    print(f"reimport_1m_unchanged_peak_rss_mb: {big_again['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--import-child"]:
        import_child(*sys.argv[2:4])
    elif sys.argv[1:2] == ["--big-import-only"]:
        main_big_import_only()
    else:
        main()
