"""Which of each branch's message seqs the console has (issue 17): compactly, as the highest
seq up to which it has every one (`through`) and a bounded list of ranges received above it. It counts
from the first seq it hears of a branch: what a branch sent before the console knew it (a new
console, a console database started again) is history, not a gap.

A branch numbers every message of its outbox (events, acks) one up; its heartbeat says up to
which seq the broker acknowledged all. A seq the broker acknowledged and never delivered (a
crash before it saved or forwarded it) is a gap here: fleet_console/service/gaps.py asks the
branch to send it again. `lost` counts the seqs the branch no longer had when asked.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from controller.store.codec import from_ms_or_none, to_ms

MAX_RANGES = 200  # ranges kept above `through`; beyond, the highest are forgotten (asked again)


@dataclass
class Seqs:
    """One branch's seqs; the methods keep `ahead` sorted, disjoint and above through + 1."""

    branch: str
    through: int = 0
    ahead: list[list[int]] = field(default_factory=list)  # [[from, to], ...]
    acked: int = 0  # the highest acked_seq a heartbeat gave
    gap_since: datetime | None = None  # the current first gap, first seen then
    asked_at: datetime | None = None  # a resend for it sent then (none answered since)
    refused: str | None = None  # why the branch refused the last resend (not: not kept)
    lost: int = 0  # seqs the branch no longer had

    @property
    def top(self) -> int:
        """The highest seq known to exist (received, or acknowledged by the broker)."""
        return max(self.through, self.acked, self.ahead[-1][1] if self.ahead else 0)

    def first_gap(self) -> tuple[int, int] | None:
        """The lowest run of seqs missing, or None when nothing is."""
        if self.top <= self.through:
            return None
        return self.through + 1, (self.ahead[0][0] - 1 if self.ahead else self.top)

    def missing(self) -> int:
        return self.top - self.through - sum(high - low + 1 for low, high in self.ahead)

    def covered(self, low: int, high: int) -> int:
        """How many of low..high are here."""
        here = max(0, min(high, self.through) - low + 1)
        for a, b in self.ahead:
            here += max(0, min(high, b) - max(low, a) + 1)
        return here

    def add(self, low: int, high: int) -> bool:
        """Mark low..high here; True when `through` moved (the first gap changed)."""
        if high <= self.through:
            return False
        low = max(low, self.through + 1)
        merged: list[list[int]] = []
        for a, b in sorted([*self.ahead, [low, high]]):
            if merged and a <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        before = self.through
        while merged and merged[0][0] <= self.through + 1:
            self.through = max(self.through, merged.pop(0)[1])
        self.ahead = merged[:MAX_RANGES]
        if self.through != before:
            self.gap_since = self.asked_at = None
            self.refused = None
            return True
        return False

    def give_up(self, low: int, high: int) -> None:
        """The branch no longer has low..high: count what is missing of it as lost."""
        self.lost += (high - low + 1) - self.covered(low, high)
        self.add(low, high)


class SeqStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, branch: str) -> Seqs | None:
        """None for a branch whose seqs the console has not heard of yet."""
        row = self._conn.execute("SELECT * FROM branch_seqs WHERE branch = ?", (branch,)).fetchone()
        return None if row is None else _seqs(row)

    def with_gaps(self) -> list[Seqs]:
        """The branches missing a seq or having lost some (for the check and the overview)."""
        rows = self._conn.execute(
            "SELECT * FROM branch_seqs WHERE acked > through OR ahead != '[]' OR lost > 0 ORDER BY branch"
        )
        return [_seqs(row) for row in rows]

    def save(self, seqs: Seqs) -> None:
        self._conn.execute(
            "INSERT INTO branch_seqs (branch, through, ahead, acked, gap_ms, asked_ms, refused, lost) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(branch) DO UPDATE SET through = excluded.through, "
            "ahead = excluded.ahead, acked = excluded.acked, gap_ms = excluded.gap_ms, "
            "asked_ms = excluded.asked_ms, refused = excluded.refused, lost = excluded.lost",
            (
                seqs.branch,
                seqs.through,
                json.dumps(seqs.ahead, separators=(",", ":")),
                seqs.acked,
                None if seqs.gap_since is None else to_ms(seqs.gap_since),
                None if seqs.asked_at is None else to_ms(seqs.asked_at),
                seqs.refused,
                seqs.lost,
            ),
        )


def _seqs(row: sqlite3.Row) -> Seqs:
    return Seqs(
        branch=row["branch"],
        through=row["through"],
        ahead=[[int(a), int(b)] for a, b in json.loads(row["ahead"])],
        acked=row["acked"],
        gap_since=from_ms_or_none(row["gap_ms"]),
        asked_at=from_ms_or_none(row["asked_ms"]),
        refused=row["refused"],
        lost=row["lost"],
    )
