"""Members of the Open+ list: the record the decision reads, and the row an import or admin writes."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple


class Category(StrEnum):
    MEMBER = "member"  # a library member registered (or not yet) for Open+
    STAFF = "staff"  # staff or cleaner card: passes whenever the branch is not closed


ADULT_AGE = 18
NEVER = date.max  # adult_on for someone known to be under 18 with no birth date given
# The earliest birth date taken (as the API's birth_date field); the latest is today: a birth
# date in the future is a typing error, and from year 9982 on its 18th birthday cannot be a date.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def adult_on(birth_date: date) -> date:
    """The 18th birthday; a 29 February birth date turns 18 on 1 March."""
    try:
        return birth_date.replace(year=birth_date.year + ADULT_AGE)
    except ValueError:
        return date(birth_date.year + ADULT_AGE, 3, 1)


class MemberRow(NamedTuple):
    """What an import line, the CLI or the API says a member should look like.

    A NamedTuple rather than a frozen dataclass: just as immutable, and a million-row import
    builds one per line, where a frozen dataclass's constructor alone cost 4 µs a row.
    """

    patron_id: str
    display_name: str
    cards: tuple[str, ...]
    adult_on: date
    valid_until: date
    openplus_registered_on: date | None = None
    entry_blocked: bool = False
    blocked_until: date | None = None
    category: Category = Category.MEMBER
    pin: str | None = None  # plain PIN in transit only; never stored, never in the repr

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self)
                          if name != "pin")
        return f"MemberRow({shown})"


@dataclass(frozen=True)
class Member:
    """A stored member as the access decision sees it (PIN only as salt + keyed hash)."""

    id: int
    patron_id: str
    display_name: str
    cards: tuple[str, ...]
    adult_on: date
    valid_until: date
    openplus_registered_on: date | None
    entry_blocked: bool
    blocked_until: date | None
    category: Category
    pin_salt: bytes | None = field(default=None, repr=False)
    pin_hash: bytes | None = field(default=None, repr=False)
    locked_until: datetime | None = None  # PIN lockout, aware UTC

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)

    def is_blocked_on(self, day: date) -> bool:
        return self.entry_blocked and (self.blocked_until is None or day <= self.blocked_until)

    def is_adult_on(self, day: date) -> bool:
        return self.adult_on <= day

    def is_registered_on(self, day: date) -> bool:
        return self.openplus_registered_on is not None and self.openplus_registered_on <= day
