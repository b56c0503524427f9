"""The statistics tables: hourly counts without identities, kept after the events are purged.

- stats_hours: per branch-local hour (keyed by the hour's start in UTC ms: Amsterdam's offsets
  are whole hours, so a UTC hour is a local hour, and the October day's two 02:00 hours stay
  two rows), door, door mode, outcome (granted/refused) and reason: how many.
- stats_people: the people counter's in/out per hour and door (the beams' or the camera's
  crossings, by controller.services.statistics_people; the page shows occupancy from it).
- stats_uniques: distinct members per period ('day:2026-03-05', 'week:2026-W10',
  'month:2026-03') and scope ('all', or 'openplus' for Open+ hours).
- stats_seen: which keyed digests a still-open period has counted, so a member is counted once;
  forgotten once the period is closed (then only the number is left).
- stats_rollup: the last event id rolled up, and the last day whose periods are closed.

The caller owns the transaction (see the controller.store docstring).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from controller.store.codec import from_ms, to_ms

GRANTED = "granted"
REFUSED = "refused"


@dataclass(frozen=True)
class HourKey:
    """One stats_hours row's key: a local hour (its UTC start, local day and hour), door, mode,
    outcome and reason."""

    hour_ms: int
    day: str  # branch-local YYYY-MM-DD
    hour: int  # branch-local 0-23
    door: str
    mode: str
    outcome: str
    reason: str


@dataclass(frozen=True)
class HourCount:
    """A stats_hours row as read back."""

    hour_ms: int
    day: date
    hour: int
    door: str
    mode: str
    outcome: str
    reason: str
    count: int


@dataclass(frozen=True)
class PeopleCount:
    """A stats_people row: people in and out in one local hour at one door."""

    hour_ms: int
    day: date
    hour: int
    door: str
    people_in: int
    people_out: int


@dataclass(frozen=True)
class RollupCursor:
    last_event_id: int
    closed_through: date | None  # periods ending on or before this day are closed


@dataclass(frozen=True)
class RawEntry:
    """What a roll-up reads of an access event (the patron id only to digest it, never kept)."""

    id: int
    ts_ms: int
    type: str
    door: str
    reason: str | None
    member_ref: str | None
    detail: str | None


class StatisticsStore:
    """Reads and writes the statistics tables on one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- the roll-up's side ----------------------------------------------------------------
    def cursor(self) -> RollupCursor:
        row = self._conn.execute(
            "SELECT last_event_id, closed_through FROM stats_rollup WHERE id = 1"
        ).fetchone()
        return RollupCursor(int(row[0]), date.fromisoformat(row[1]) if row[1] else None)

    def move_cursor(self, last_event_id: int, now: datetime) -> None:
        self._conn.execute(
            "UPDATE stats_rollup SET last_event_id = ?, rolled_at_ms = ? WHERE id = 1",
            (last_event_id, to_ms(now)),
        )

    def mark_closed(self, through: date) -> None:
        self._conn.execute("UPDATE stats_rollup SET closed_through = ? WHERE id = 1", (through.isoformat(),))

    def events_after(self, event_id: int, types: tuple[str, ...], limit: int) -> list[RawEntry]:
        """The events of `types` among the `limit` ids after `event_id`, in id order (a window
        of ids, so a stretch of other events costs one short scan of the primary key)."""
        marks = ",".join("?" * len(types))
        rows = self._conn.execute(
            "SELECT id, ts_ms, type, door, reason, member_ref, detail FROM events "
            f"WHERE id > ? AND id <= ? AND type IN ({marks}) ORDER BY id",
            (event_id, event_id + limit, *types),
        ).fetchall()
        return [RawEntry(*row) for row in rows]

    def newest_event_id(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def add_hours(self, counts: dict[HourKey, int]) -> None:
        self._conn.executemany(
            "INSERT INTO stats_hours (hour_ms, day, hour, door, mode, outcome, reason, count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hour_ms, door, mode, outcome, reason) "
            "DO UPDATE SET count = count + excluded.count",
            [(k.hour_ms, k.day, k.hour, k.door, k.mode, k.outcome, k.reason, n) for k, n in counts.items()],
        )

    def add_people(
        self, hour_ms: int, day: str, hour: int, door: str, people_in: int, people_out: int
    ) -> None:
        """Add crossings to an hour (the people counter's, in batches)."""
        self._conn.execute(
            "INSERT INTO stats_people (hour_ms, day, hour, door, people_in, people_out) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hour_ms, door) DO UPDATE SET "
            "people_in = people_in + excluded.people_in, "
            "people_out = people_out + excluded.people_out",
            (hour_ms, day, hour, door, people_in, people_out),
        )

    def remember(self, period: str, scope: str, digest: bytes) -> bool:
        """Note a member's digest in a period; True when it is new there (count them once)."""
        return (
            self._conn.execute(
                "INSERT OR IGNORE INTO stats_seen (period, scope, digest) VALUES (?, ?, ?)",
                (period, scope, digest),
            ).rowcount
            == 1
        )

    def add_uniques(self, counts: dict[tuple[str, str], int]) -> None:
        self._conn.executemany(
            "INSERT INTO stats_uniques (period, scope, members) VALUES (?, ?, ?) "
            "ON CONFLICT (period, scope) DO UPDATE SET members = members + excluded.members",
            [(period, scope, n) for (period, scope), n in counts.items()],
        )

    def open_periods(self) -> list[str]:
        """The periods whose digests are still kept."""
        return [row[0] for row in self._conn.execute("SELECT DISTINCT period FROM stats_seen")]

    def forget_digests(self, periods: Iterable[str]) -> int:
        """Drop the digests of closed periods; their counts stay. How many rows went."""
        return sum(
            self._conn.execute("DELETE FROM stats_seen WHERE period = ?", (period,)).rowcount
            for period in periods
        )

    # --- the pages' side -------------------------------------------------------------------
    def hours(self, first: date, last: date) -> Iterator[HourCount]:
        """Every stats_hours row of the local days first..last (inclusive), oldest first."""
        for row in self._conn.execute(
            "SELECT hour_ms, day, hour, door, mode, outcome, reason, count FROM stats_hours "
            "WHERE day >= ? AND day <= ? ORDER BY hour_ms",
            (first.isoformat(), last.isoformat()),
        ):
            yield HourCount(row[0], date.fromisoformat(row[1]), *row[2:])

    def people(self, first: date, last: date) -> list[PeopleCount]:
        rows = self._conn.execute(
            "SELECT hour_ms, day, hour, door, people_in, people_out FROM stats_people "
            "WHERE day >= ? AND day <= ? ORDER BY hour_ms",
            (first.isoformat(), last.isoformat()),
        ).fetchall()
        return [PeopleCount(row[0], date.fromisoformat(row[1]), *row[2:]) for row in rows]

    def uniques(self, periods: Iterable[str]) -> dict[tuple[str, str], int]:
        """(period, scope) -> distinct members, for the periods asked (missing: none came)."""
        wanted = list(periods)
        found: dict[tuple[str, str], int] = {}
        for start in range(0, len(wanted), 500):  # SQLite's limit on parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for period, scope, members in self._conn.execute(
                f"SELECT period, scope, members FROM stats_uniques WHERE period IN ({marks})", chunk
            ):
                found[(period, scope)] = int(members)
        return found

    def rolled_up_at(self) -> datetime | None:
        """When the last roll-up ran (None: never): the figures are complete up to then."""
        row = self._conn.execute("SELECT rolled_at_ms FROM stats_rollup WHERE id = 1").fetchone()
        return from_ms(row[0]) if row and row[0] is not None else None


def hour_key_ms(moment: datetime) -> int:
    """The UTC ms of the start of the hour `moment` is in."""
    return to_ms(moment) // 3_600_000 * 3_600_000
