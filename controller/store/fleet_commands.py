"""What the branch keeps of the fleet's commands (issue 17): the last version applied of each
kind, and which entry blocks the fleet's shared list set.

The versions are in the database, not in memory, so a replayed command is refused after a
restart too; they are written in the same transaction as the change they stand for.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from controller.store.codec import to_ms

FLEET_SOURCE = "fleet"  # members.block_source of a block the shared list set


class FleetApplied:
    """Named queries over fleet_applied and members.block_source."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def last_versions(self) -> dict[str, int]:
        """kind -> the last version applied of it."""
        return {
            kind: int(version)
            for kind, version in self._conn.execute("SELECT kind, version FROM fleet_applied")
        }

    def record(self, kind: str, version: int, command_id: str, body: dict[str, Any], at: datetime) -> None:
        self._conn.execute(
            "INSERT INTO fleet_applied (kind, version, command_id, applied_ms, body) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(kind) DO UPDATE SET version = excluded.version, command_id = excluded.command_id, "
            "applied_ms = excluded.applied_ms, body = excluded.body",
            (kind, version, command_id, to_ms(at), json.dumps(body, sort_keys=True, ensure_ascii=False)),
        )

    def body_of(self, kind: str) -> dict[str, Any] | None:
        """The body of the last command applied of `kind` (the rules, applied again at start)."""
        row = self._conn.execute("SELECT body FROM fleet_applied WHERE kind = ?", (kind,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # --- blocks from the shared list ---------------------------------------------------------
    def fleet_blocked(self) -> set[str]:
        """Patron ids blocked now by the fleet's list (a local block or unblock since clears
        the mark: MemberStore.set_blocked)."""
        return {
            row[0]
            for row in self._conn.execute(
                "SELECT patron_id FROM members WHERE entry_blocked = 1 AND block_source = ?", (FLEET_SOURCE,)
            )
        }

    def locally_blocked(self, patron_ids: Iterable[str]) -> set[str]:
        """Those of `patron_ids` blocked by the branch itself: the shared list leaves them be."""
        ids = list(patron_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found.update(
                row[0]
                for row in self._conn.execute(
                    f"SELECT patron_id FROM members WHERE entry_blocked = 1 AND block_source IS NULL "
                    f"AND patron_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return found

    def mark_fleet_block(self, patron_id: str) -> None:
        self._conn.execute(
            "UPDATE members SET block_source = ? WHERE patron_id = ?", (FLEET_SOURCE, patron_id)
        )

    def keep_pin(self, patron_id: str, salt: bytes | None, digest: bytes | None) -> None:
        """Put back the PIN hash an updated entry had (the fleet's rows carry no PINs: a
        member's PIN is set at the branch, and an update of their entry must not drop it)."""
        self._conn.execute(
            "UPDATE members SET pin_salt = ?, pin_hash = ? WHERE patron_id = ?", (salt, digest, patron_id)
        )
