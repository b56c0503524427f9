"""Reading and writing members, their cards and their PIN lockouts in SQLite.

The staged whole-list import lives in controller.store.member_list; list_import() here opens
its transaction. The stored form of a member's fields is controller.store.member_rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

from controller.domain.cards import card_hint
from controller.domain.members import Category, Member, MemberRow, card_listed_twice
from controller.domain.pins import PinHasher
from controller.store.codec import (
    day_from_text,
    day_from_text_or_none,
    day_text_or_none,
    from_ms_or_none,
)
from controller.store.db import inserted_id, transaction
from controller.store.member_list import ListImport
from controller.store.member_rows import MEMBER_COLUMNS, MEMBER_FIELDS, epoch_ms, field_values


class MemberError(Exception):
    """An admin change that cannot be made (unknown patron, card already in use...)."""


# SQLite allows 32766 parameters per statement; a page of members is far below this.
_IDS_PER_QUERY = 500


class MemberStore:
    """All member storage goes through here. A change of several rows is one `transaction()`:
    its own, or a savepoint in the caller's when the caller (MemberAdmin) holds one."""

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
        cards = self._cards_of([row["id"] for row in rows])
        return [self._member(row, cards.get(row["id"], ())) for row in rows]

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]

    def _cards_of(self, member_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """Each member's cards, sorted, in one query for a whole page (not one per member)."""
        cards: dict[int, list[str]] = {}
        for chunk in range(0, len(member_ids), _IDS_PER_QUERY):
            ids = member_ids[chunk : chunk + _IDS_PER_QUERY]
            for member_id, card in self._conn.execute(
                f"SELECT member_id, card FROM cards WHERE member_id IN ({','.join('?' * len(ids))}) "
                "ORDER BY member_id, card",
                ids,
            ):
                cards.setdefault(member_id, []).append(card)
        return {member_id: tuple(owned) for member_id, owned in cards.items()}

    def _member(self, row: sqlite3.Row, cards: tuple[str, ...] | None = None) -> Member:
        """The member in `row`; its cards are looked up unless the caller already has them."""
        if cards is None:
            cards = self._cards_of([row["id"]]).get(row["id"], ())
        return Member(
            id=row["id"],
            patron_id=row["patron_id"],
            display_name=row["display_name"],
            cards=cards,
            adult_on=day_from_text(row["adult_on"]),
            valid_until=day_from_text(row["valid_until"]),
            openplus_registered_on=day_from_text_or_none(row["openplus_registered_on"]),
            entry_blocked=bool(row["entry_blocked"]),
            blocked_until=day_from_text_or_none(row["blocked_until"]),
            category=Category(row["category"]),
            pin_salt=row["pin_salt"],
            pin_hash=row["pin_hash"],
            locked_until=from_ms_or_none(row["locked_until_ms"]),
            block_note=row["block_note"],
            guardian_consent=bool(row["guardian_consent"]),
            more_time=bool(row["more_time"]),
        )

    # --- single changes ----------------------------------------------------------------
    def add(self, row: MemberRow, now: datetime) -> Member:
        with transaction(self._conn):
            if self._conn.execute("SELECT 1 FROM members WHERE patron_id = ?", (row.patron_id,)).fetchone():
                raise MemberError(f"patron {row.patron_id} is already on the list")
            twice = card_listed_twice(row.cards)
            if twice:
                raise MemberError(twice)
            taken = self._card_owners(row.cards)
            if taken:
                raise MemberError(
                    ", ".join(
                        f"card {card_hint(card)} already belongs to patron {owner}"
                        for card, owner in sorted(taken.items())
                    )
                )
            self._insert(row, now)
        added = self.get(row.patron_id)
        assert added is not None, "the entry was just written in this connection"
        return added

    def remove(self, patron_id: str) -> None:
        with transaction(self._conn):
            if not self._conn.execute("DELETE FROM members WHERE patron_id = ?", (patron_id,)).rowcount:
                raise MemberError(f"patron {patron_id} is not on the list")

    def set_blocked(
        self, patron_id: str, blocked: bool, until: date | None, now: datetime, note: str | None = None
    ) -> None:
        """Block (until a day, or until unblocked, with the manager's note) or unblock; an
        unblock drops the end date and the note, which belonged to the block. Either is the
        branch's own word, so a mark that the fleet's shared list set the block goes too."""
        self._update_one(
            patron_id,
            "entry_blocked = ?, blocked_until = ?, block_note = ?, block_source = NULL",
            (int(blocked), day_text_or_none(until) if blocked else None, (note or None) if blocked else None),
            now,
        )

    def set_flags(
        self,
        patron_id: str,
        now: datetime,
        *,
        guardian_consent: bool | None = None,
        more_time: bool | None = None,
    ) -> None:
        """Set the flags given (None: leave it as stored); MemberError for an unknown patron."""
        changes = [
            (column, int(value))
            for column, value in (("guardian_consent", guardian_consent), ("more_time", more_time))
            if value is not None
        ]
        if not changes:
            raise ValueError("set_flags needs guardian_consent or more_time")
        self._update_one(
            patron_id,
            ", ".join(f"{column} = ?" for column, _ in changes),
            tuple(value for _, value in changes),
            now,
        )

    def set_pin(self, patron_id: str, pin: str, now: datetime) -> None:
        """A new PIN also lifts a PIN lockout: the member proved who they are to staff."""
        salt, digest = self._hasher.hash(pin)
        with transaction(self._conn):
            member_id = self._update_one(patron_id, "pin_salt = ?, pin_hash = ?", (salt, digest), now)
            self._conn.execute("DELETE FROM pin_failures WHERE member_id = ?", (member_id,))

    def _update_one(self, patron_id: str, assignments: str, values: tuple, now: datetime) -> int:
        """Update one member's columns; its id. MemberError when there is no such patron."""
        with transaction(self._conn):
            row = self._conn.execute("SELECT id FROM members WHERE patron_id = ?", (patron_id,)).fetchone()
            if row is None:
                raise MemberError(f"patron {patron_id} is not on the list")
            self._conn.execute(
                f"UPDATE members SET {assignments}, updated_ms = ? WHERE id = ?",
                (*values, epoch_ms(now), row[0]),
            )
            return row[0]

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
        member_id = inserted_id(
            self._conn.execute(
                f"INSERT INTO members (patron_id, {MEMBER_COLUMNS}, pin_salt, pin_hash, updated_ms) "
                f"VALUES ({', '.join('?' * (len(MEMBER_FIELDS) + 4))})",
                (row.patron_id, *field_values(row), salt, digest, epoch_ms(now)),
            )
        )
        self._conn.executemany(
            "INSERT INTO cards (card, member_id) VALUES (?, ?)",
            ((card, member_id) for card in row.cards),
        )
        return member_id

    def _card_owners(self, cards: Sequence[str]) -> dict[str, str]:
        """card -> patron id for those of `cards` that already belong to an entry."""
        marks = ",".join("?" * len(cards))
        return dict(
            self._conn.execute(
                "SELECT c.card, m.patron_id FROM cards c "
                f"JOIN members m ON m.id = c.member_id WHERE c.card IN ({marks})",
                cards,
            ).fetchall()
        )
