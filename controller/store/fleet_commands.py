"""What the branch keeps of the fleet's commands (issue 17): the last version applied of each
kind, and which entry blocks the fleet's shared list set.

The versions are in the database, not in memory, so a replayed command is refused after a
restart too; they are written in the same transaction as the change they stand for.

The last `blocks` body is the shared list itself: a patron on it who joins the branch later
(an import, a manager's add, a fleet `members` command) is blocked from it at once
(MemberAdmin), and the door asks it about LMS patrons the local list does not know
(services/lms_access.FleetBlockView).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from controller.store.codec import to_ms

FLEET_SOURCE = "fleet"  # members.block_source of a block the shared list set


@dataclass(frozen=True)
class ListedBlock:
    """One entry of the shared list: until a day (None: until the list drops it) and why."""

    until: date | None
    note: str | None

    def in_force_on(self, day: date) -> bool:
        """Whether it still blocks on `day` (the end day itself included, as Member.is_blocked_on)."""
        return self.until is None or day <= self.until


def listed_block(row: Mapping[str, Any]) -> tuple[str, ListedBlock]:
    """(patron id, entry) of one row of a `blocks` body, read as apply.py's _blocks reads it
    (an empty reason is no note); ValueError for an end date that is not a day."""
    note = (row.get("reason") or "").strip() or None
    until = date.fromisoformat(row["until"]) if row.get("until") else None
    return str(row["patron"]), ListedBlock(until, note)


@dataclass(frozen=True)
class FleetBlockList:
    """The shared list as last applied here, with the version and command that brought it."""

    version: int
    command_id: str
    blocks: Mapping[str, ListedBlock]  # by patron id; a patron listed twice: the later row

    def in_force_on(self, day: date) -> dict[str, ListedBlock]:
        return {patron: block for patron, block in self.blocks.items() if block.in_force_on(day)}


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
    def blocks_version(self) -> int | None:
        """The version of the shared list applied here (None: none came yet); one key read."""
        row = self._conn.execute("SELECT version FROM fleet_applied WHERE kind = 'blocks'").fetchone()
        return None if row is None else int(row[0])

    def block_list(self) -> FleetBlockList | None:
        """The last shared list applied (None: none came yet)."""
        row = self._conn.execute(
            "SELECT version, command_id, body FROM fleet_applied WHERE kind = 'blocks'"
        ).fetchone()
        if row is None:
            return None
        rows = json.loads(row[2]).get("blocks", [])
        return FleetBlockList(int(row[0]), str(row[1]), dict(listed_block(entry) for entry in rows))

    def listed(self, patron_id: str) -> tuple[FleetBlockList, ListedBlock] | None:
        """The shared list's entry for one patron, with the list's version and command (its
        `blocks` holding that entry alone), or None. Looked up inside SQLite's JSON, so one
        add does not parse a list of thousands."""
        row = self._conn.execute(
            "SELECT f.version, f.command_id, e.value FROM fleet_applied f, json_each(f.body, '$.blocks') e "
            "WHERE f.kind = 'blocks' AND json_extract(e.value, '$.patron') = ? "
            "ORDER BY e.key DESC LIMIT 1",
            (patron_id,),
        ).fetchone()
        if row is None:
            return None
        _, block = listed_block(json.loads(row[2]))
        return FleetBlockList(int(row[0]), str(row[1]), {patron_id: block}), block

    def not_blocked(self, patron_ids: Iterable[str]) -> set[str]:
        """Those of `patron_ids` that are members here and not blocked now."""
        return self._members_where("entry_blocked = 0", patron_ids)

    def lifted_fleet_blocks(self) -> set[str]:
        """Members marked as blocked by the list but no longer blocked: only a whole-list
        import with a block column does that (a manager's block or unblock clears the mark,
        and the list's own unblock too), and the import speaks for the library system, which
        knows nothing of the fleet's list."""
        return {
            row[0]
            for row in self._conn.execute(
                "SELECT patron_id FROM members WHERE entry_blocked = 0 AND block_source = ?", (FLEET_SOURCE,)
            )
        }

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
        return self._members_where("entry_blocked = 1 AND block_source IS NULL", patron_ids)

    def _members_where(self, condition: str, patron_ids: Iterable[str]) -> set[str]:
        """Those of `patron_ids` whose member entry meets `condition` (a constant SQL text);
        the ids go in as one JSON array, so no list is too long for SQLite's parameters."""
        return {
            row[0]
            for row in self._conn.execute(
                f"SELECT patron_id FROM members WHERE {condition} "
                "AND patron_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(patron_ids)),),
            )
        }

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
