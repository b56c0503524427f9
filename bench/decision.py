"""Decision time with 100,000 members, and the time to import a 100,000-row CSV export.

Prints `name: value unit` lines; the last line is the headline (decision p99).
Targets on a dev machine: decision p99 under 5 ms, import under 30 s.
"""
from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.admin import MemberAdmin  # noqa: E402
from controller.authorizer import Authorizer  # noqa: E402
from controller.config import parse_settings  # noqa: E402
from controller.modes import DoorMode  # noqa: E402
from controller.runtime import Runtime  # noqa: E402

MEMBERS = 100_000
DECISIONS = 5_000
HEADER = "patron_id;cards;name;birth_date;openplus_registered;valid_until;blocked;category;pin"


def export_csv(count: int) -> bytes:
    rng = random.Random(7)
    lines = [HEADER]
    for n in range(1, count + 1):
        lines.append(
            f"B{n:07d};{29990000000000 + n};X.{n % 97}.;{rng.randint(1940, 2006)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)};"
            f"2025-01-01;2030-01-01;nee;member;{rng.randint(0, 999999):06d}"
        )
    return ("\n".join(lines) + "\n").encode()


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def main() -> None:
    now = datetime(2026, 11, 25, 20, 0, tzinfo=timezone.utc)
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

            authorizer = Authorizer(runtime.members(conn), runtime.events(conn), runtime.hasher,
                                    settings.access, "bench")
            rng = random.Random(11)
            samples = []
            for i in range(DECISIONS):
                card = str(29990000000000 + rng.randint(1, MEMBERS))
                started = time.perf_counter()
                authorizer.authorize(card, "000000", f"reader{i}", DoorMode.OPENPLUS, now)
                samples.append((time.perf_counter() - started) * 1000)
    print(f"members: {MEMBERS} count")
    print(f"import_100k_rows_s: {import_s:.2f} s")
    print(f"reimport_100k_unchanged_s: {reimport_s:.2f} s")
    print(f"decision_p50_ms: {statistics.median(samples):.3f} ms")
    print(f"decision_p99_ms: {percentile(samples, 99):.3f} ms")


if __name__ == "__main__":
    main()
