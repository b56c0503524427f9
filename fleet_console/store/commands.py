"""Commands the console sent, one signed envelope per target branch, and what each branch said.

A target is `pending` until its branch acknowledges: `applied` or `refused` (with the reason).
An `applied` is final: a command delivered twice (a resend after a lost PUBACK) is refused the
second time as "stale or replayed", and that must not hide that the first one was applied. A
`refused` is not: the refusal of a tampered copy names the id it claims, and the genuine command
applied after it must still show as applied (only a correctly signed command is ever applied).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.store.codec import from_ms, from_ms_or_none, to_ms


@dataclass(frozen=True)
class CommandRow:
    id: str
    kind: str
    version: int
    by: str
    body: dict[str, Any]
    issued_at: datetime
    expires_at: datetime
    applied: int = 0
    refused: int = 0
    pending: int = 0

    @property
    def targets(self) -> int:
        return self.applied + self.refused + self.pending


@dataclass(frozen=True)
class TargetRow:
    command_id: str
    branch: str
    payload: str
    published_at: datetime | None
    status: str
    reason: str | None
    acked_at: datetime | None


def _command(row: sqlite3.Row) -> CommandRow:
    keys = row.keys()
    return CommandRow(
        id=row["id"],
        kind=row["kind"],
        version=row["version"],
        by=row["by"],
        body=json.loads(row["body"]),
        issued_at=from_ms(row["issued_ms"]),
        expires_at=from_ms(row["expires_ms"]),
        **{name: row[name] or 0 for name in ("applied", "refused", "pending") if name in keys},
    )


def _target(row: sqlite3.Row) -> TargetRow:
    return TargetRow(
        command_id=row["command_id"],
        branch=row["branch"],
        payload=row["payload"],
        published_at=from_ms_or_none(row["published_ms"]),
        status=row["status"],
        reason=row["reason"],
        acked_at=from_ms_or_none(row["acked_ms"]),
    )


_COUNTS = (
    "SELECT c.*, "
    "SUM(t.status = 'applied') AS applied, SUM(t.status = 'refused') AS refused, "
    "SUM(t.status = 'pending') AS pending "
    "FROM commands c LEFT JOIN command_targets t ON t.command_id = c.id"
)


class CommandStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def next_version(self) -> int:
        """The console's counter, one up (call inside the transaction that stores the command)."""
        self._conn.execute("UPDATE command_counter SET version = version + 1 WHERE id = 1")
        return int(self._conn.execute("SELECT version FROM command_counter WHERE id = 1").fetchone()[0])

    def add(
        self,
        command_id: str,
        kind: str,
        version: int,
        by: str,
        body: dict[str, Any],
        issued_at: datetime,
        expires_at: datetime,
        payloads: dict[str, str],
    ) -> None:
        self._conn.execute(
            "INSERT INTO commands (id, kind, version, by, body, issued_ms, expires_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                command_id,
                kind,
                version,
                by,
                json.dumps(body, sort_keys=True),
                to_ms(issued_at),
                to_ms(expires_at),
            ),
        )
        self._conn.executemany(
            "INSERT INTO command_targets (command_id, branch, payload) VALUES (?, ?, ?)",
            [(command_id, branch, payload) for branch, payload in sorted(payloads.items())],
        )

    def unpublished(self, limit: int) -> list[TargetRow]:
        """Targets the broker has not acknowledged yet, oldest command first (still unexpired)."""
        rows = self._conn.execute(
            "SELECT t.* FROM command_targets t JOIN commands c ON c.id = t.command_id "
            "WHERE t.published_ms IS NULL ORDER BY c.version, t.branch LIMIT ?",
            (limit,),
        )
        return [_target(r) for r in rows]

    def mark_published(self, targets: list[tuple[str, str]], now: datetime) -> None:
        self._conn.executemany(
            "UPDATE command_targets SET published_ms = ? WHERE command_id = ? AND branch = ? "
            "AND published_ms IS NULL",
            [(to_ms(now), command_id, branch) for command_id, branch in targets],
        )

    def acknowledge(
        self, command_id: str, branch: str, status: str, reason: str | None, now: datetime
    ) -> bool:
        """Record a branch's answer; False when there is no such target, or the answer changes
        nothing (it was applied already, or refused again)."""
        cursor = self._conn.execute(
            "UPDATE command_targets SET status = ?, reason = ?, acked_ms = ? "
            "WHERE command_id = ? AND branch = ? "
            "AND (status = 'pending' OR (status = 'refused' AND ? = 'applied'))",
            (status, reason, to_ms(now), command_id, branch, status),
        )
        return cursor.rowcount == 1

    def recent(self, limit: int) -> list[CommandRow]:
        rows = self._conn.execute(_COUNTS + " GROUP BY c.id ORDER BY c.version DESC LIMIT ?", (limit,))
        return [_command(r) for r in rows]

    def get(self, command_id: str) -> CommandRow | None:
        row = self._conn.execute(_COUNTS + " WHERE c.id = ? GROUP BY c.id", (command_id,)).fetchone()
        return None if row is None else _command(row)

    def targets(self, command_id: str) -> list[TargetRow]:
        rows = self._conn.execute(
            "SELECT * FROM command_targets WHERE command_id = ? ORDER BY branch", (command_id,)
        )
        return [_target(r) for r in rows]

    def last_body(self, kind: str) -> dict[str, Any] | None:
        """What was last sent of `kind` (the editor starts from it)."""
        row = self._conn.execute(
            "SELECT body FROM commands WHERE kind = ? ORDER BY version DESC LIMIT 1", (kind,)
        ).fetchone()
        return None if row is None else json.loads(row[0])
