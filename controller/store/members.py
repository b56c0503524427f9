"""Reading and writing members, their cards and their PIN lockouts in SQLite."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterator, NamedTuple, Sequence

from controller.domain.cards import card_hint
from controller.domain.members import Category, Member, MemberRow, card_listed_twice
from controller.domain.pins import PinHasher
from controller.store.db import transaction


class MemberError(Exception):
    """An admin change that cannot be made (unknown patron, card already in use...)."""


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


_MEMBER_COLUMNS = (
    "display_name, adult_on, openplus_registered_on, valid_until, entry_blocked, "
    "blocked_until, category"
)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# Dates as stored text, by date: a million-row import writes three dates a row, mostly the
# same few thousand, and date.isoformat() cost seconds there. Emptied when full.
_DAY_TEXTS: dict[date, str] = {}
_DAY_TEXTS_KEPT = 50_000


def _day_text(day: date | None) -> str | None:
    """_iso, remembered (for _field_values; look in _DAY_TEXTS first)."""
    if day is None:
        return None
    if len(_DAY_TEXTS) >= _DAY_TEXTS_KEPT:
        _DAY_TEXTS.clear()
    text = _DAY_TEXTS[day] = day.isoformat()
    return text


def _field_values(row: MemberRow) -> tuple:
    """The row's _MEMBER_COLUMNS as stored; called once per row of an import, so quick."""
    texts = _DAY_TEXTS
    registered, blocked_until = row.openplus_registered_on, row.blocked_until
    return (
        row.display_name, texts.get(row.adult_on) or _day_text(row.adult_on),
        texts.get(registered) or _day_text(registered),  # type: ignore[arg-type]
        texts.get(row.valid_until) or _day_text(row.valid_until), int(row.entry_blocked),
        texts.get(blocked_until) or _day_text(blocked_until),  # type: ignore[arg-type]
        str(row.category),  # a StrEnum's str() is its value, quicker than .value
    )


class MemberStore:
    """All member storage goes through here; every multi-row change is one transaction."""

    def __init__(self, conn: sqlite3.Connection, hasher: PinHasher) -> None:
        self._conn = conn
        self._hasher = hasher

    # --- reading -----------------------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def find_by_card(self, card: str) -> Member | None:
        row = self._conn.execute(
            "SELECT m.*, f.locked_until_ms FROM cards c JOIN members m ON m.id = c.member_id "
            "LEFT JOIN pin_failures f ON f.member_id = m.id WHERE c.card = ?",
            (card,),
        ).fetchone()
        return self._member(row) if row else None

    def get(self, patron_id: str) -> Member | None:
        row = self._conn.execute(
            "SELECT m.*, f.locked_until_ms FROM members m "
            "LEFT JOIN pin_failures f ON f.member_id = m.id WHERE m.patron_id = ?",
            (patron_id,),
        ).fetchone()
        return self._member(row) if row else None

    def search(self, text: str = "", limit: int = 50, offset: int = 0) -> list[Member]:
        """Members whose patron id or name contains `text`, or who own the card `text`."""
        like = f"%{text}%"
        rows = self._conn.execute(
            "SELECT m.*, f.locked_until_ms FROM members m "
            "LEFT JOIN pin_failures f ON f.member_id = m.id "
            "WHERE ? = '' OR m.patron_id LIKE ? OR m.display_name LIKE ? "
            "OR m.id IN (SELECT member_id FROM cards WHERE card = ?) "
            "ORDER BY m.patron_id LIMIT ? OFFSET ?",
            (text, like, like, text, limit, offset),
        ).fetchall()
        return [self._member(row) for row in rows]

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]

    def _member(self, row: sqlite3.Row) -> Member:
        cards = tuple(
            r[0] for r in self._conn.execute(
                "SELECT card FROM cards WHERE member_id = ? ORDER BY card", (row["id"],)
            )
        )
        locked_ms = row["locked_until_ms"]
        return Member(
            id=row["id"], patron_id=row["patron_id"], display_name=row["display_name"],
            cards=cards, adult_on=date.fromisoformat(row["adult_on"]),
            valid_until=date.fromisoformat(row["valid_until"]),
            openplus_registered_on=_day(row["openplus_registered_on"]),
            entry_blocked=bool(row["entry_blocked"]), blocked_until=_day(row["blocked_until"]),
            category=Category(row["category"]), pin_salt=row["pin_salt"], pin_hash=row["pin_hash"],
            locked_until=(
                datetime.fromtimestamp(locked_ms / 1000, timezone.utc) if locked_ms else None
            ),
        )

    # --- single changes ----------------------------------------------------------------
    def add(self, row: MemberRow, now: datetime) -> Member:
        with transaction(self._conn):
            if self._conn.execute(
                "SELECT 1 FROM members WHERE patron_id = ?", (row.patron_id,)
            ).fetchone():
                raise MemberError(f"patron {row.patron_id} is already on the list")
            twice = card_listed_twice(row.cards)
            if twice:
                raise MemberError(twice)
            taken = self._card_owners(row.cards)
            if taken:
                raise MemberError(", ".join(
                    f"card {card_hint(card)} already belongs to patron {owner}"
                    for card, owner in sorted(taken.items())))
            self._insert(row, now)
        return self.get(row.patron_id)  # type: ignore[return-value]

    def remove(self, patron_id: str) -> None:
        with transaction(self._conn):
            if not self._conn.execute(
                "DELETE FROM members WHERE patron_id = ?", (patron_id,)
            ).rowcount:
                raise MemberError(f"patron {patron_id} is not on the list")

    def set_blocked(self, patron_id: str, blocked: bool, until: date | None, now: datetime) -> None:
        self._update_one(
            patron_id, "entry_blocked = ?, blocked_until = ?",
            (int(blocked), _iso(until) if blocked else None), now,
        )

    def set_pin(self, patron_id: str, pin: str, now: datetime) -> None:
        """A new PIN also lifts a PIN lockout: the member proved who they are to staff."""
        salt, digest = self._hasher.hash(pin)
        with transaction(self._conn):
            member_id = self._update_one(
                patron_id, "pin_salt = ?, pin_hash = ?", (salt, digest), now, in_transaction=True
            )
            self._conn.execute("DELETE FROM pin_failures WHERE member_id = ?", (member_id,))

    def _update_one(
        self, patron_id: str, assignments: str, values: tuple, now: datetime,
        in_transaction: bool = False,
    ) -> int:
        def run() -> int:
            row = self._conn.execute(
                "SELECT id FROM members WHERE patron_id = ?", (patron_id,)
            ).fetchone()
            if row is None:
                raise MemberError(f"patron {patron_id} is not on the list")
            self._conn.execute(
                f"UPDATE members SET {assignments}, updated_ms = ? WHERE id = ?",
                (*values, _ms(now), row[0]),
            )
            return row[0]

        if in_transaction:
            return run()
        with transaction(self._conn):
            return run()

    # --- the whole list ----------------------------------------------------------------
    @contextmanager
    def list_import(self, now: datetime) -> Iterator[ListImport]:
        """One write transaction in which an import is staged, checked and swapped in.

        The rows go into TEMP tables batch by batch (see ListImport), so memory does not grow
        with the list. Leaving the block after `ListImport.apply(commit=True)` commits;
        leaving it any other way (an exception, a rejected file, a preview) rolls back, which
        also drops the TEMP tables: all or nothing.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            staged = ListImport(self._conn, self._hasher, now)
            yield staged
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        if staged.applied:
            staged.staging.drop()
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")

    def _insert(self, row: MemberRow, now: datetime) -> int:
        salt, digest = self._hasher.hash(row.pin) if row.pin else (None, None)
        member_id = self._conn.execute(
            f"INSERT INTO members (patron_id, {_MEMBER_COLUMNS}, pin_salt, pin_hash, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.patron_id, *_field_values(row), salt, digest, _ms(now)),
        ).lastrowid
        self._conn.executemany(
            "INSERT INTO cards (card, member_id) VALUES (?, ?)",
            ((card, member_id) for card in row.cards),
        )
        return member_id

    def _card_owners(self, cards: Sequence[str]) -> dict[str, str]:
        """card -> patron id for those of `cards` that already belong to an entry."""
        marks = ",".join("?" * len(cards))
        return dict(self._conn.execute(
            "SELECT c.card, m.patron_id FROM cards c "
            f"JOIN members m ON m.id = c.member_id WHERE c.card IN ({marks})", cards,
        ).fetchall())


_FIELD_ASSIGNMENTS = ", ".join(f"{c.strip()} = r.{c.strip()}" for c in _MEMBER_COLUMNS.split(","))


# What applying one staged row will do, worked out while its batch is staged (a plain tuple:
# one per row of a million-row list): (member_id: the stored entry it replaces, or the id a new
# entry will get; is_new; changed: an existing entry's fields, cards or PIN differ;
# cards_changed: its cards must be (re)written; pin_salt, pin_hash: a fresh hash for a PIN that
# is not the stored one, None: keep the stored PIN).
_Decision = tuple[int | None, bool, bool, bool, bytes | None, bytes | None]
_NEW_WITHOUT_PIN: _Decision = (None, True, False, True, None, None)


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
            f"patron_id TEXT NOT NULL, {_MEMBER_COLUMNS}, member_id INTEGER, is_new INTEGER NOT NULL, "
            "changed INTEGER NOT NULL, cards_changed INTEGER NOT NULL, pin_salt BLOB, pin_hash BLOB)"
        )
        conn.execute("CREATE TEMP TABLE import_cards (id INTEGER PRIMARY KEY, "
                     "row_id INTEGER NOT NULL, card TEXT NOT NULL)")

    @property
    def rows(self) -> int:
        return self._next_id - 1

    def add(self, batch: Sequence[tuple[int, MemberRow]],
            decisions: Sequence[_Decision] | None = None,
            fields: Sequence[tuple] | None = None) -> None:
        """Stage (line, row) pairs; without decisions every row counts as a new entry.
        `fields` are the rows' _field_values when the caller has them already."""
        first = self._next_id
        self._next_id += len(batch)
        self._conn.executemany(
            "INSERT INTO temp.import_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (first + n, line, row.patron_id) + values + decision
                for n, ((line, row), values, decision) in enumerate(zip(
                    batch, fields or [_field_values(row) for _, row in batch],
                    decisions or [_NEW_WITHOUT_PIN] * len(batch),
                ))
            ],
        )
        self._conn.executemany(
            "INSERT INTO temp.import_cards (row_id, card) VALUES (?, ?)",
            ((first + n, card) for n, (_, row) in enumerate(batch) for card in row.cards),
        )

    def index(self) -> None:
        """Index patron ids and cards once everything is staged (faster than row by row).

        Unique indexes when they can be: then nothing is listed twice and duplicates() need
        not look (the usual case, a second saved on a million rows)."""
        if self._indexed:
            return
        self._unique = True
        for index, table, column in (("import_rows_patron", "import_rows", "patron_id"),
                                     ("import_cards_card", "import_cards", "card")):
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
        found = [Duplicate(row[0], "patron_id", row[1], row[2]) for row in self._conn.execute(
            "SELECT r.line, r.patron_id, f.line FROM temp.import_rows r JOIN ("
            "  SELECT patron_id, MIN(id) AS first_id FROM temp.import_rows"
            "  GROUP BY patron_id HAVING COUNT(*) > 1"
            ") d ON d.patron_id = r.patron_id JOIN temp.import_rows f ON f.id = d.first_id "
            "WHERE r.id > d.first_id ORDER BY r.id LIMIT ?", (limit,),
        )]
        found += [Duplicate(row[0], "card", row[1], row[2]) for row in self._conn.execute(
            "SELECT r.line, c.card, f.line FROM temp.import_cards c JOIN ("
            "  SELECT card, MIN(id) AS first_id FROM temp.import_cards"
            "  GROUP BY card HAVING COUNT(*) > 1"
            ") d ON d.card = c.card JOIN temp.import_cards fc ON fc.id = d.first_id "
            "JOIN temp.import_rows r ON r.id = c.row_id "
            "JOIN temp.import_rows f ON f.id = fc.row_id "
            "WHERE c.id > d.first_id ORDER BY c.id LIMIT ?", (limit,),
        )]
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
    keeps the stored PIN.
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
        self._next_member_id = conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM members").fetchone()[0]

    def add(self, batch: Sequence[tuple[int, MemberRow]]) -> None:
        """Stage one batch of (line, row) pairs, deciding per row what applying will do."""
        patrons = [row.patron_id for _, row in batch]
        query = self._conn.cursor()
        query.row_factory = None  # plain tuples: a million sqlite3.Row objects cost seconds
        stored = {
            found[1]: found for found in query.execute(
                f"SELECT id, patron_id, {_MEMBER_COLUMNS}, pin_salt, pin_hash FROM members "
                f"WHERE patron_id IN ({','.join('?' * len(patrons))})", patrons,
            )
        }
        cards: dict[int, set[str]] = {}
        if stored:
            ids = [found[0] for found in stored.values()]
            for member_id, card in query.execute(
                f"SELECT member_id, card FROM cards WHERE member_id IN ({','.join('?' * len(ids))})",
                ids,
            ):
                cards.setdefault(member_id, set()).add(card)
        fields = [_field_values(row) for _, row in batch]
        plans = [self._decide(row, values, stored.get(row.patron_id), cards)
                 for (_, row), values in zip(batch, fields)]
        # The batch's new PINs hashed in one go (one draw of salts: see PinHasher.hash_many).
        hashes = iter(self._hasher.hash_many(
            [row.pin for (_, row), plan in zip(batch, plans) if plan[4]]))  # type: ignore[misc]
        no_pin = (None, None)
        decisions = [plan[:4] + (next(hashes) if plan[4] else no_pin) for plan in plans]
        self.staging.add(batch, decisions, fields)  # type: ignore[arg-type]

    def _decide(self, row: MemberRow, fields: tuple, before: tuple | None,
                cards: dict[int, set[str]]) -> tuple[int, bool, bool, bool, bool]:
        """The row's decision without its PIN hash, and whether its PIN needs a fresh hash."""
        if before is None:
            self._added += 1
            member_id, self._next_member_id = self._next_member_id, self._next_member_id + 1
            return member_id, True, False, True, bool(row.pin)
        member_id = before[0]
        new_pin = row.pin is not None and not self._hasher.verify(row.pin, before[9], before[10])
        cards_changed = cards.get(member_id, set()) != set(row.cards)
        changed = new_pin or cards_changed or before[2:9] != fields
        self._updated += changed
        return member_id, False, changed, cards_changed, new_pin

    def duplicates(self, limit: int) -> tuple[list[Duplicate], int]:
        return self.staging.duplicates(limit)

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
        found = [StaffCard(*row) for row in self._conn.execute(
            f"SELECT r.line, ic.card, m.patron_id {query} ORDER BY ic.id LIMIT ?", (limit,))]
        return found, self._conn.execute(f"SELECT COUNT(*) {query}").fetchone()[0]

    def apply(self, commit: bool = True) -> ImportCounts:
        """Swap the staged list in (commit) or only count what that would do (a preview).

        Order matters for the cards' uniqueness: entries that go and cards that change are
        deleted before any card is written.
        """
        self.staging.index()
        unlisted = ("FROM members WHERE category = 'member' "
                    "AND patron_id NOT IN (SELECT patron_id FROM temp.import_rows)")
        unchanged = self.staging.rows - self._added - self._updated
        if not commit:
            removed = self._conn.execute(f"SELECT COUNT(*) {unlisted}").fetchone()[0]
            return ImportCounts(self._added, self._updated, unchanged, removed)
        execute = self._conn.execute
        removed = execute(f"DELETE {unlisted}").rowcount
        execute("DELETE FROM cards WHERE member_id IN (SELECT member_id FROM temp.import_rows "
                "WHERE cards_changed AND NOT is_new)")
        execute(
            f"UPDATE members SET {_FIELD_ASSIGNMENTS}, "
            "pin_salt = coalesce(r.pin_salt, members.pin_salt), "
            "pin_hash = coalesce(r.pin_hash, members.pin_hash), updated_ms = ? "
            "FROM temp.import_rows r WHERE r.changed AND members.id = r.member_id",
            (_ms(self._now),),
        )
        execute(
            f"INSERT INTO members (id, patron_id, {_MEMBER_COLUMNS}, pin_salt, pin_hash, "
            f"updated_ms) SELECT member_id, patron_id, {_MEMBER_COLUMNS}, pin_salt, pin_hash, ? "
            "FROM temp.import_rows WHERE is_new ORDER BY id",
            (_ms(self._now),),
        )
        execute(
            "INSERT INTO cards (card, member_id) SELECT c.card, r.member_id "
            "FROM temp.import_cards c JOIN temp.import_rows r ON r.id = c.row_id "
            "WHERE r.cards_changed ORDER BY c.id"
        )
        self.applied = True
        return ImportCounts(self._added, self._updated, unchanged, removed)
