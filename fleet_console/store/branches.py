"""The branches the console has heard of: their retained state and last heartbeat."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.store.codec import from_ms_or_none, to_ms


@dataclass(frozen=True)
class BranchRow:
    id: str
    state: str | None  # online | offline | None (only heard of through events or acks)
    detail: dict[str, Any]  # the last state message
    state_at: datetime | None
    heartbeat_at: datetime | None
    outbox: int | None

    @property
    def online(self) -> bool:
        return self.state == "online"


def _row(row: sqlite3.Row) -> BranchRow:
    return BranchRow(
        id=row["id"],
        state=row["state"],
        detail=json.loads(row["state_json"]) if row["state_json"] else {},
        state_at=from_ms_or_none(row["state_ms"]),
        heartbeat_at=from_ms_or_none(row["heartbeat_ms"]),
        outbox=row["outbox"],
    )


class BranchStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def seen(self, branch: str, now: datetime) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO branches (id, first_seen_ms) VALUES (?, ?)", (branch, to_ms(now))
        )

    def set_state(self, branch: str, state: str, message: dict[str, Any], now: datetime) -> None:
        self.seen(branch, now)
        self._conn.execute(
            "UPDATE branches SET state = ?, state_json = ?, state_ms = ? WHERE id = ?",
            (state, json.dumps(message, sort_keys=True), to_ms(now), branch),
        )

    def set_heartbeat(self, branch: str, at: datetime, outbox: int | None, now: datetime) -> None:
        """Only a newer heartbeat moves it (QoS 0 messages may come late after a reconnect)."""
        self.seen(branch, now)
        self._conn.execute(
            "UPDATE branches SET heartbeat_ms = ?, outbox = ? "
            "WHERE id = ? AND (heartbeat_ms IS NULL OR heartbeat_ms < ?)",
            (to_ms(at), outbox, branch, to_ms(at)),
        )

    def all(self) -> list[BranchRow]:
        return [_row(r) for r in self._conn.execute("SELECT * FROM branches ORDER BY id")]

    def ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT id FROM branches ORDER BY id")]

    def get(self, branch: str) -> BranchRow | None:
        row = self._conn.execute("SELECT * FROM branches WHERE id = ?", (branch,)).fetchone()
        return None if row is None else _row(row)
