"""Reading and writing members, their cards and their PIN lockouts in SQLite."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable, NamedTuple, Sequence

from controller.members import Category, Member, MemberRow
from controller.pins import PinHasher
from controller.store.db import transaction

Progress = Callable[[int], None]


class MemberError(Exception):
    """An admin change that cannot be made (unknown patron, card already in use...)."""


class CardConflict(MemberError):
    """Cards in an import that belong to entries the import does not replace."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners  # card -> patron id of the entry that keeps it
        super().__init__(f"{len(owners)} card(s) already belong to other entries")


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int
    removed: int


class _Preview(Exception):
    """Raised inside the import transaction to roll a preview back."""

    def __init__(self, counts: ImportCounts) -> None:
        self.counts = counts


class _Stored(NamedTuple):
    """What an import compares a row with."""

    id: int
    category: str
    fields: tuple
    pin_salt: bytes | None
    pin_hash: bytes | None
    cards: set[str]


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


def _field_values(row: MemberRow) -> tuple:
    return (
        row.display_name, row.adult_on.isoformat(), _iso(row.openplus_registered_on),
        row.valid_until.isoformat(), int(row.entry_blocked), _iso(row.blocked_until),
        row.category.value,
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
            taken = self._card_owners(row.cards, exclude_patrons=())
            if taken:
                raise MemberError("card already belongs to patron " + ", ".join(taken.values()))
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
    def replace_members(
        self, rows: Sequence[MemberRow], now: datetime, progress: Progress | None = None,
        commit: bool = True,
    ) -> ImportCounts:
        """Make the list match `rows` in one transaction; staff entries not listed are kept.

        A row without a PIN keeps the stored PIN. Raises CardConflict (nothing written) when
        a card belongs to a kept entry. With commit=False the counts are computed and the
        transaction rolled back: a preview.
        """
        try:
            return self._replace(rows, now, progress, commit)
        except _Preview as preview:
            return preview.counts

    def _replace(
        self, rows: Sequence[MemberRow], now: datetime, progress: Progress | None, commit: bool
    ) -> ImportCounts:
        listed = {row.patron_id for row in rows}
        added = updated = unchanged = 0
        with transaction(self._conn):
            conflicts = self._card_owners(
                (card for row in rows for card in row.cards), exclude_patrons=listed,
                only_kept=True,
            )
            if conflicts:
                raise CardConflict(conflicts)
            existing = self._existing_for_import()
            removed = [
                (stored.id,) for patron, stored in existing.items()
                if patron not in listed and stored.category == Category.MEMBER.value
            ]
            self._conn.executemany("DELETE FROM members WHERE id = ?", removed)
            self._conn.executemany("DELETE FROM cards WHERE member_id = ?", (
                (existing[row.patron_id].id,) for row in rows if row.patron_id in existing
            ))
            for done, row in enumerate(rows, start=1):
                before = existing.get(row.patron_id)
                if before is None:
                    member_id = self._insert_member(row, now)
                    added += 1
                else:
                    member_id = before.id
                    if self._apply_update(member_id, before, row, now):
                        updated += 1
                    else:
                        unchanged += 1
                self._conn.executemany(
                    "INSERT INTO cards (card, member_id) VALUES (?, ?)",
                    ((card, member_id) for card in row.cards),
                )
                if progress and done % 1000 == 0:
                    progress(1000)
            if progress:
                progress(len(rows) % 1000)
            counts = ImportCounts(added, updated, unchanged, len(removed))
            if not commit:
                raise _Preview(counts)
        return counts

    def _existing_for_import(self) -> dict[str, _Stored]:
        cards: dict[int, set[str]] = {}
        for member_id, card in self._conn.execute("SELECT member_id, card FROM cards"):
            cards.setdefault(member_id, set()).add(card)
        return {
            row[0]: _Stored(row[1], row[2], tuple(row[3:10]), row[10], row[11],
                            cards.get(row[1], set()))
            for row in self._conn.execute(
                f"SELECT patron_id, id, category, {_MEMBER_COLUMNS}, pin_salt, pin_hash "
                "FROM members"
            )
        }

    def _apply_update(self, member_id: int, before: _Stored, row: MemberRow, now: datetime) -> bool:
        new_pin = row.pin is not None and not self._hasher.verify(
            row.pin, before.pin_salt, before.pin_hash
        )
        changed = before.fields != _field_values(row) or before.cards != set(row.cards) or new_pin
        if not changed:
            return False
        assignments = ", ".join(f"{c.strip()} = ?" for c in _MEMBER_COLUMNS.split(","))
        values = _field_values(row)
        if new_pin:
            assignments += ", pin_salt = ?, pin_hash = ?"
            values += self._hasher.hash(row.pin)  # type: ignore[arg-type]
        self._conn.execute(
            f"UPDATE members SET {assignments}, updated_ms = ? WHERE id = ?",
            (*values, _ms(now), member_id),
        )
        return True

    def _insert(self, row: MemberRow, now: datetime) -> int:
        member_id = self._insert_member(row, now)
        self._conn.executemany(
            "INSERT INTO cards (card, member_id) VALUES (?, ?)",
            ((card, member_id) for card in row.cards),
        )
        return member_id

    def _insert_member(self, row: MemberRow, now: datetime) -> int:
        salt, digest = self._hasher.hash(row.pin) if row.pin else (None, None)
        return self._conn.execute(
            f"INSERT INTO members (patron_id, {_MEMBER_COLUMNS}, pin_salt, pin_hash, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.patron_id, *_field_values(row), salt, digest, _ms(now)),
        ).lastrowid

    def _card_owners(
        self, cards: Iterable[str], exclude_patrons: Iterable[str], only_kept: bool = False
    ) -> dict[str, str]:
        """card -> patron id for the given cards owned by entries outside `exclude_patrons`.

        With `only_kept`, only staff entries count: an import removes unlisted members anyway.
        """
        excluded, wanted, owners = set(exclude_patrons), list(cards), {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for card, patron, category in self._conn.execute(
                "SELECT c.card, m.patron_id, m.category FROM cards c "
                f"JOIN members m ON m.id = c.member_id WHERE c.card IN ({marks})", chunk,
            ):
                if patron not in excluded and (not only_kept or category == Category.STAFF.value):
                    owners[card] = patron
        return owners
