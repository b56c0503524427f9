"""The whole-list import's storage: the list staged in TEMP tables, checked and swapped in.

Split from controller.store.members (single reads and changes) because this is its own job:
a million-row list goes through TEMP tables batch by batch, so memory does not grow with it,
and is applied with a few set-wise statements. MemberStore.list_import opens the one
transaction it runs in.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from controller.domain.members import MemberRow
from controller.domain.pins import PinHasher
from controller.store.member_rows import MEMBER_COLUMNS, MEMBER_FIELDS, epoch_ms, field_values


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int
    removed: int


class Duplicate(NamedTuple):
    """A value an import lists twice: the later line, and the line that had it first."""

    line: int
    column: str  # "patron_id" or "card"
    value: str
    first_line: int


class StaffCard(NamedTuple):
    """A card in an import that a staff entry keeps (staff entries not listed stay)."""

    line: int
    card: str
    staff_patron: str


_FIELD_ASSIGNMENTS = ", ".join(f"{column} = r.{column}" for column in MEMBER_FIELDS)
_FIELDS = len(MEMBER_FIELDS)
# Where a stored entry's values sit in the tuples _stored() reads: id, patron_id, then the
# MEMBER_COLUMNS, then pin_salt and pin_hash.
_STORED_FIELDS = slice(2, 2 + _FIELDS)
_STORED_PIN = slice(2 + _FIELDS, 4 + _FIELDS)


# One staged row, as written to temp.import_rows (a plain tuple: one per row of a million-row
# list): its staging id, line, patron id, MEMBER_COLUMNS values, then what applying it will do:
# member_id (the stored entry it replaces, or the id a new entry will get), is_new, changed (an
# existing entry's fields, cards or PIN differ), cards_changed (its cards must be (re)written),
# pin_salt and pin_hash (a fresh hash for a PIN that is not the stored one; None: keep it).
_STAGE_ROW = f"INSERT INTO temp.import_rows VALUES ({', '.join('?' * (_FIELDS + 9))})"
_STAGE_CARD = "INSERT INTO temp.import_cards (row_id, card) VALUES (?, ?)"
_NO_PIN = (None, None)


class _Kept:
    """Puts an existing entry's stored values into a row's fields for the `kept` fields.

    The kept fields are the last MEMBER_COLUMNS (the flags a manager sets), so the usual
    case is one slice and one concatenation per row; any other set takes the general path."""

    def __init__(self, kept: Collection[str]) -> None:
        unknown = set(kept) - set(MEMBER_FIELDS)
        if unknown:
            raise ValueError(f"not member fields: {sorted(unknown)}")
        self._positions = frozenset(MEMBER_FIELDS.index(name) for name in kept)
        first = _FIELDS - len(self._positions)
        # The first kept position when the kept fields are the last ones (the usual case),
        # else None; None too when nothing is kept.
        self.suffix_from = (
            first if self._positions and self._positions == set(range(first, _FIELDS)) else None
        )

    def __bool__(self) -> bool:
        return bool(self._positions)

    def stored_into(self, fields: tuple, before: tuple) -> tuple:
        """`fields` with the stored values (from _stored's tuple `before`) where kept."""
        return tuple(before[2 + n] if n in self._positions else value for n, value in enumerate(fields))


class ImportStaging:
    """TEMP tables holding a list on its way in, one row per line and one per card.

    Why tables and not Python sets: a million patron ids and cards in sets and a million row
    objects in a list cost over a gigabyte; in TEMP tables (on disk, with SQLite's small page
    cache) they cost a few megabytes, and duplicates are found with an index. No plain PIN is
    ever written here, only a fresh salted hash.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._next_id = 1
        self._indexed = False
        self._unique = False  # no patron id and no card is listed twice
        self.drop()
        conn.execute(
            "CREATE TEMP TABLE import_rows (id INTEGER PRIMARY KEY, line INTEGER NOT NULL, "
            f"patron_id TEXT NOT NULL, {MEMBER_COLUMNS}, member_id INTEGER, is_new INTEGER NOT NULL, "
            "changed INTEGER NOT NULL, cards_changed INTEGER NOT NULL, pin_salt BLOB, pin_hash BLOB)"
        )
        conn.execute(
            "CREATE TEMP TABLE import_cards (id INTEGER PRIMARY KEY, "
            "row_id INTEGER NOT NULL, card TEXT NOT NULL)"
        )

    @property
    def rows(self) -> int:
        return self._next_id - 1

    def reserve(self, count: int) -> int:
        """The staging id of the first of the next `count` rows (theirs follow it)."""
        first = self._next_id
        self._next_id += count
        return first

    def write(self, rows: Sequence[tuple], cards: Iterable[tuple[int, str]]) -> None:
        """Stage whole rows (see _STAGE_ROW for their form) and their (row id, card) pairs."""
        self._conn.executemany(_STAGE_ROW, rows)
        self._conn.executemany(_STAGE_CARD, cards)

    def add(self, batch: Sequence[tuple[int, MemberRow]]) -> None:
        """Stage (line, row) pairs as new entries without a PIN: enough to find duplicates."""
        first = self.reserve(len(batch))
        self.write(
            [
                (first + n, line, row.patron_id, *field_values(row), None, 1, 0, 1, None, None)
                for n, (line, row) in enumerate(batch)
            ],
            [(first + n, card) for n, (_, row) in enumerate(batch) for card in row.cards],
        )

    def index(self) -> None:
        """Index patron ids and cards once everything is staged (faster than row by row).

        Unique indexes when they can be: then nothing is listed twice and duplicates() need
        not look (the usual case, a second saved on a million rows)."""
        if self._indexed:
            return
        self._unique = True
        for index, table, column in (
            ("import_rows_patron", "import_rows", "patron_id"),
            ("import_cards_card", "import_cards", "card"),
        ):
            try:
                self._conn.execute(f"CREATE UNIQUE INDEX temp.{index} ON {table} ({column})")
            except sqlite3.IntegrityError:
                self._conn.execute(f"CREATE INDEX temp.{index} ON {table} ({column})")
                self._unique = False
        self._indexed = True

    def duplicates(self, limit: int) -> tuple[list[Duplicate], int]:
        """The first `limit` values listed twice (by line; a patron id before a card on the
        same line), and how many there are in all."""
        self.index()
        if self._unique:
            return [], 0
        found = [
            Duplicate(row[0], "patron_id", row[1], row[2])
            for row in self._conn.execute(
                "SELECT r.line, r.patron_id, f.line FROM temp.import_rows r JOIN ("
                "  SELECT patron_id, MIN(id) AS first_id FROM temp.import_rows"
                "  GROUP BY patron_id HAVING COUNT(*) > 1"
                ") d ON d.patron_id = r.patron_id JOIN temp.import_rows f ON f.id = d.first_id "
                "WHERE r.id > d.first_id ORDER BY r.id LIMIT ?",
                (limit,),
            )
        ]
        found += [
            Duplicate(row[0], "card", row[1], row[2])
            for row in self._conn.execute(
                "SELECT r.line, c.card, f.line FROM temp.import_cards c JOIN ("
                "  SELECT card, MIN(id) AS first_id FROM temp.import_cards"
                "  GROUP BY card HAVING COUNT(*) > 1"
                ") d ON d.card = c.card JOIN temp.import_cards fc ON fc.id = d.first_id "
                "JOIN temp.import_rows r ON r.id = c.row_id "
                "JOIN temp.import_rows f ON f.id = fc.row_id "
                "WHERE c.id > d.first_id ORDER BY c.id LIMIT ?",
                (limit,),
            )
        ]
        found.sort(key=lambda d: (d.line, d.column != "patron_id"))
        total = len(found)
        if total >= limit:  # there may be more than were fetched: count them
            total = self._conn.execute(
                "SELECT (SELECT COUNT(*) - COUNT(DISTINCT patron_id) FROM temp.import_rows)"
                " + (SELECT COUNT(*) - COUNT(DISTINCT card) FROM temp.import_cards)"
            ).fetchone()[0]
        return found[:limit], total

    def drop(self) -> None:
        self._conn.execute("DROP TABLE IF EXISTS temp.import_rows")
        self._conn.execute("DROP TABLE IF EXISTS temp.import_cards")


class ListImport:
    """A whole-list import inside MemberStore.list_import's transaction: add() the rows in
    batches, look at duplicates() and staff_cards(), then apply().

    Each batch is compared with the stored entries it names as it is staged (one query per
    batch), so only a batch of stored rows is in memory at a time; applying is then a few
    set-wise statements. Staff entries the list does not name are kept; a row without a PIN
    keeps the stored PIN, and the fields named in add()'s `kept` (those a manager sets on the
    pages, when the file has no column for them) keep their stored values.
    """

    def __init__(self, conn: sqlite3.Connection, hasher: PinHasher, now: datetime) -> None:
        self._conn = conn
        self._hasher = hasher
        self._now = now
        self.staging = ImportStaging(conn)
        self._added = self._updated = 0
        self.applied = False
        # New entries get their ids now (as SQLite would: after the highest), so that their
        # cards can be written without looking each new entry up again.
        self._next_member_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM members").fetchone()[0]

    def add(self, batch: Sequence[tuple[int, MemberRow]], kept: Collection[str] = ()) -> None:
        """Stage one batch of (line, row) pairs, deciding per row what applying will do.

        Per row only what must be: its stored values (kept as tuples), a compare, and one HMAC
        for a PIN (to check the stored one, or a fresh hash), the PINs of the batch hashed and
        checked in one call each (see PinHasher.hash_many and unchanged_many). `kept`: the
        MEMBER_FIELDS whose stored values an existing entry keeps (a new one takes the row's).
        """
        keep = _Kept(kept)
        # Hoisted: a million rows make even an attribute look-up per row count.
        keep_from, keep_any, stored_to = keep.suffix_from, bool(keep), 2 + _FIELDS
        stored, stored_cards = self._stored(batch)
        first = self.staging.reserve(len(batch))
        # Per row: [staging id, line, row, fields, member_id, is_new, changed, cards_changed,
        # whether its PIN needs a fresh hash]; the PIN is decided for the batch below.
        plans: list[list] = []
        checks: list[list] = []  # plans of stored entries with a PIN in the list: same PIN?
        next_member_id = self._next_member_id
        for n, (line, row) in enumerate(batch):
            fields = field_values(row)
            before = stored.get(row.patron_id)
            if before is None:
                plans.append([first + n, line, row, fields, next_member_id, 1, 0, 1, bool(row.pin)])
                next_member_id += 1
                continue
            if keep_from is not None:
                fields = fields[:keep_from] + before[2 + keep_from : stored_to]
            elif keep_any:
                fields = keep.stored_into(fields, before)
            member_id = before[0]
            cards = stored_cards.get(member_id, ())
            cards_changed = cards != row.cards and set(cards) != set(row.cards)
            plan = [
                first + n,
                line,
                row,
                fields,
                member_id,
                0,
                cards_changed or before[_STORED_FIELDS] != fields,
                cards_changed,
                False,
            ]
            plans.append(plan)
            if row.pin is not None:
                checks.append(plan)
        self._added += next_member_id - self._next_member_id
        self._next_member_id = next_member_id
        if checks:
            same = self._hasher.unchanged_many(
                [plan[2].pin for plan in checks], [stored[plan[2].patron_id][_STORED_PIN] for plan in checks]
            )
            for plan, unchanged in zip(checks, same, strict=True):
                if not unchanged:
                    plan[6] = plan[8] = True
        self._updated += sum(1 for plan in plans if plan[6] and not plan[5])
        hashes = iter(self._hasher.hash_many([plan[2].pin for plan in plans if plan[8]]))
        self.staging.write(
            [
                (
                    staged,
                    line,
                    row.patron_id,
                    *fields,
                    member_id,
                    is_new,
                    changed,
                    cards_changed,
                    *(next(hashes) if fresh else _NO_PIN),
                )
                for staged, line, row, fields, member_id, is_new, changed, cards_changed, fresh in plans
            ],
            [(plan[0], card) for plan in plans for card in plan[2].cards],  # every card: see duplicates()
        )

    def _stored(
        self, batch: Sequence[tuple[int, MemberRow]]
    ) -> tuple[dict[str, tuple], dict[int, tuple[str, ...]]]:
        """The stored entries the batch names, by patron id (id, patron_id, MEMBER_COLUMNS,
        pin_salt, pin_hash), and their cards by member id: one query each per batch."""
        patrons = [row.patron_id for _, row in batch]
        query = self._conn.cursor()
        query.row_factory = None  # plain tuples: a million sqlite3.Row objects cost seconds
        stored = {
            found[1]: found
            for found in query.execute(
                f"SELECT id, patron_id, {MEMBER_COLUMNS}, pin_salt, pin_hash FROM members "
                f"WHERE patron_id IN ({','.join('?' * len(patrons))})",
                patrons,
            )
        }
        cards: dict[int, list[str]] = {}
        if stored:
            ids = [found[0] for found in stored.values()]
            for member_id, card in query.execute(
                f"SELECT member_id, card FROM cards WHERE member_id IN ({','.join('?' * len(ids))})",
                ids,
            ):
                cards.setdefault(member_id, []).append(card)
        return stored, {member_id: tuple(owned) for member_id, owned in cards.items()}

    def duplicates(self, limit: int) -> tuple[list[Duplicate], int]:
        return self.staging.duplicates(limit)

    def new_among(self, patron_ids: Collection[str]) -> set[str]:
        """Those of `patron_ids` this import adds (asked for the few on the fleet's block list)."""
        self.staging.index()
        query = (
            "SELECT patron_id FROM temp.import_rows "
            "WHERE is_new AND patron_id IN (SELECT value FROM json_each(?))"
        )
        return {row[0] for row in self._conn.execute(query, (json.dumps(list(patron_ids)),))}

    def staff_cards(self, limit: int) -> tuple[list[StaffCard], int]:
        """Cards in the list that staff entries it does not name keep (the first `limit`, by
        line, and how many in all): such a list cannot be applied."""
        self.staging.index()
        query = (
            "FROM members m JOIN cards c ON c.member_id = m.id "
            "JOIN temp.import_cards ic ON ic.card = c.card "
            "JOIN temp.import_rows r ON r.id = ic.row_id "
            "WHERE m.category = 'staff' "
            "AND m.patron_id NOT IN (SELECT patron_id FROM temp.import_rows)"
        )
        found = [
            StaffCard(*row)
            for row in self._conn.execute(
                f"SELECT r.line, ic.card, m.patron_id {query} ORDER BY ic.id LIMIT ?", (limit,)
            )
        ]
        return found, self._conn.execute(f"SELECT COUNT(*) {query}").fetchone()[0]

    def apply(self, commit: bool = True) -> ImportCounts:
        """Swap the staged list in (commit) or only count what that would do (a preview).

        Order matters for the cards' uniqueness: entries that go and cards that change are
        deleted before any card is written.
        """
        self.staging.index()
        unlisted = (
            "FROM members WHERE category = 'member' "
            "AND patron_id NOT IN (SELECT patron_id FROM temp.import_rows)"
        )
        unchanged = self.staging.rows - self._added - self._updated
        if not commit:
            removed = self._conn.execute(f"SELECT COUNT(*) {unlisted}").fetchone()[0]
            return ImportCounts(self._added, self._updated, unchanged, removed)
        execute = self._conn.execute
        removed = execute(f"DELETE {unlisted}").rowcount
        execute(
            "DELETE FROM cards WHERE member_id IN (SELECT member_id FROM temp.import_rows "
            "WHERE cards_changed AND NOT is_new)"
        )
        execute(
            f"UPDATE members SET {_FIELD_ASSIGNMENTS}, "
            "pin_salt = coalesce(r.pin_salt, members.pin_salt), "
            "pin_hash = coalesce(r.pin_hash, members.pin_hash), updated_ms = ? "
            "FROM temp.import_rows r WHERE r.changed AND members.id = r.member_id",
            (epoch_ms(self._now),),
        )
        execute(
            f"INSERT INTO members (id, patron_id, {MEMBER_COLUMNS}, pin_salt, pin_hash, "
            f"updated_ms) SELECT member_id, patron_id, {MEMBER_COLUMNS}, pin_salt, pin_hash, ? "
            "FROM temp.import_rows WHERE is_new ORDER BY id",
            (epoch_ms(self._now),),
        )
        execute(
            "INSERT INTO cards (card, member_id) SELECT c.card, r.member_id "
            "FROM temp.import_cards c JOIN temp.import_rows r ON r.id = c.row_id "
            "WHERE r.cards_changed ORDER BY c.id"
        )
        self.applied = True
        return ImportCounts(self._added, self._updated, unchanged, removed)
