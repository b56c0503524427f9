"""Event-page query time with 1,000,000 stored events, and the schedule's mode lookup time.

Prints `name: value unit` lines; the last line is the headline (events_page_p99_ms).
Target: a filtered page (member or type within a time range, limit 50) p99 under 50 ms.

Paths measured:
  events_store_*     EventLog.query, the store call GET /api/v1/events makes (limit 51:
                     one extra row tells the API whether there is a next page);
  events_api_*       the real endpoint through FastAPI's TestClient with a bearer token
                     (auth lookup, per-request connection, JSON), mixed filters: the headline.
  mode_at_*          controller.domain.timeline.mode_at on config/beilen-schedule.json.

Earlier finding: ordering pages by id while filtering a ts_ms range made SQLite sort every
matching row (hundreds of ms for 90 days of one type); EventLog.query now orders by
(ts_ms, id) with a keyset cursor and walks the migration-2 indexes backwards instead.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.config.settings import parse_settings
from controller.domain.events import EventType
from controller.domain.schedule import load_schedule_file
from controller.domain.timeline import mode_at
from controller.http.services import ApiServices
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from controller.store.events import EventCursor, EventFilter, EventLog

EVENTS = 1_000_000
MEMBERS = 20_000
DAYS = 90
STORE_QUERIES = 40  # per scenario; each a page plus its next page
API_QUERIES = 200  # mixed filters through the endpoint
NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
BEILEN = Path(__file__).resolve().parent.parent / "config" / "beilen-schedule.json"
# (type, reason, weight): roughly what a busy Open+ branch logs
MIX = [
    (EventType.ACCESS_GRANTED, "granted", 30),
    (EventType.DOOR_OPENED, None, 28),
    (EventType.DOOR_CLOSED, None, 28),
    (EventType.ACCESS_REFUSED, "wrong_pin", 5),
    (EventType.ACCESS_REFUSED, "unknown_card", 3),
    (EventType.ACCESS_REFUSED, "outside_hours", 2),
    (EventType.EXIT_REQUEST, None, 3),
    (EventType.DOOR_FORCED, None, 0.05),
    (EventType.MODE_CHANGED, "openplus", 0.5),
    (EventType.ADMIN_CHANGE, "member added", 0.45),
]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def fill_events(runtime: Runtime) -> float:
    """1M events over 90 days, in time order, in one executemany transaction; seconds taken."""
    rng = random.Random(5)
    kinds = [(t.value, r) for t, r, _ in MIX]
    weights = [w for _, _, w in MIX]
    start_ms = int((NOW - timedelta(days=DAYS)).timestamp() * 1000)
    step_ms = DAYS * 86_400_000 // EVENTS
    chosen = rng.choices(kinds, weights, k=EVENTS)

    def rows():
        for n, (kind, reason) in enumerate(chosen):
            member = (
                f"P{rng.randrange(MEMBERS):06d}" if kind in ("access_granted", "access_refused") else None
            )
            yield (
                start_ms + n * step_ms,
                kind,
                "entrance",
                reason,
                member,
                "…1234" if member else None,
                None,
                None,
            )

    started = time.perf_counter()
    with closing(runtime.connection()) as conn:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO events (ts_ms, type, door, reason, member_ref, card_hint, "
            "actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def scenarios(rng: random.Random) -> dict[str, Callable[[], EventFilter]]:
    def member_30d() -> EventFilter:
        return EventFilter(
            since=NOW - timedelta(days=30), until=NOW, member_ref=f"P{rng.randrange(MEMBERS):06d}"
        )

    def refused_7d() -> EventFilter:
        start = NOW - timedelta(days=rng.randint(7, DAYS))
        return EventFilter(since=start, until=start + timedelta(days=7), types=(EventType.ACCESS_REFUSED,))

    def wrong_pin_30d() -> EventFilter:
        return EventFilter(since=NOW - timedelta(days=30), until=NOW, reason="wrong_pin")

    def forced_90d() -> EventFilter:
        return EventFilter(
            since=NOW - timedelta(days=DAYS),
            until=NOW,
            types=(EventType.DOOR_FORCED, EventType.DOOR_HELD_OPEN),
        )

    def granted_90d() -> EventFilter:
        return EventFilter(since=NOW - timedelta(days=DAYS), until=NOW, types=(EventType.ACCESS_GRANTED,))

    def range_only_90d() -> EventFilter:
        return EventFilter(since=NOW - timedelta(days=DAYS), until=NOW)

    return {
        "member_30d": member_30d,
        "refused_7d": refused_7d,
        "wrong_pin_30d": wrong_pin_30d,
        "forced_90d": forced_90d,
        "granted_90d": granted_90d,
        "range_only_90d": range_only_90d,
    }


def time_store(runtime: Runtime, prefix: str, run: Callable) -> None:
    """p50/p99 per scenario of `run(conn, where)`, each page also followed one cursor step."""
    rng = random.Random(9)
    with closing(runtime.connection()) as conn:
        for name, make in scenarios(rng).items():
            samples = []
            for _ in range(STORE_QUERIES):
                where = make()
                started = time.perf_counter()
                run(conn, where)
                samples.append((time.perf_counter() - started) * 1000)
            print(f"{prefix}_{name}_p50_ms: {statistics.median(samples):.2f} ms")
            print(f"{prefix}_{name}_p99_ms: {percentile(samples, 99):.2f} ms")


def store_page(conn: sqlite3.Connection, where: EventFilter) -> None:
    """What GET /api/v1/events does: a page of 50 (+1), then the next page by cursor."""
    log = EventLog(conn)
    page = log.query(where, limit=51)
    if len(page) == 51:
        log.query(where, limit=51, before=EventCursor.after(page[49]))


def time_endpoint(runtime: Runtime) -> list[float]:
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))
    with closing(runtime.connection()) as conn:
        admin = user_admin(runtime, conn, passwords)
        admin.create("bench", "bench password", ["security"], "bench")
        token = admin.create_token("bench", "bench", "bench", None).secret
    services = ApiServices(
        runtime=runtime,
        door=None,
        schedule_changed=lambda s: None,  # type: ignore[arg-type]
        passwords=passwords,
    )
    client = TestClient(create_app(services))
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(13)
    samples = []
    last_90d = {"since": (NOW - timedelta(days=DAYS)).isoformat(), "until": NOW.isoformat()}
    for n in range(API_QUERIES):
        start = NOW - timedelta(days=rng.randint(7, DAYS))
        params = [  # a member's month; a week of refusals; 90 days of grants; 90 days of all
            {
                "member": f"P{rng.randrange(MEMBERS):06d}",
                "since": (NOW - timedelta(days=30)).isoformat(),
                "until": NOW.isoformat(),
            },
            {
                "type": "access_refused",
                "since": start.isoformat(),
                "until": (start + timedelta(days=7)).isoformat(),
            },
            {"type": "access_granted", **last_90d},
            last_90d,
        ][n % 4]
        started = time.perf_counter()
        response = client.get("/api/v1/events", params={**params, "limit": 50}, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return samples


def time_mode_lookup() -> list[float]:
    schedule = load_schedule_file(BEILEN)
    rng = random.Random(17)
    samples = []
    for _ in range(2000):
        moment = NOW + timedelta(seconds=rng.randrange(365 * 86_400))
        started = time.perf_counter()
        mode_at(schedule, moment)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime.open(parse_settings({"storage": {"data_dir": tmp}}, "bench"), clock=lambda: NOW)
        fill_s = fill_events(runtime)
        print(f"events: {EVENTS} count")
        print(f"events_fill_s: {fill_s:.1f} s")
        time_store(runtime, "events_store", store_page)
        api_samples = time_endpoint(runtime)
    modes = time_mode_lookup()
    print(f"mode_at_beilen_p50_ms: {statistics.median(modes):.3f} ms")
    print(f"mode_at_beilen_p99_ms: {percentile(modes, 99):.3f} ms")
    print(f"events_api_page_p50_ms: {statistics.median(api_samples):.2f} ms")
    print(f"events_page_p99_ms: {percentile(api_samples, 99):.2f} ms")


if __name__ == "__main__":
    main()
