"""Members of the Open+ list: the record the decision reads, and the row an import or admin writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple

from controller.domain.cards import card_hint
from controller.domain.text import text_problem


class Category(StrEnum):
    MEMBER = "member"  # a library member registered (or not yet) for Open+
    STAFF = "staff"  # staff or cleaner card: passes whenever the branch is not closed


ADULT_AGE = 18
NEVER = date.max  # adult_on for someone known to be under 18 with no birth date given
# The earliest birth date taken (as the API's birth_date field); the latest is today: a birth
# date in the future is a typing error, and from year 9982 on its 18th birthday cannot be a date.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# Why an entry block was set, for security at the entrance and the next manager: a sentence,
# not a file. The same bound for the import, the API, the pages and the CLI.
BLOCK_NOTE_MAX_LENGTH = 200


def birth_date_range(today: date) -> tuple[date, date]:
    """The first and last birth date taken (EARLIEST_BIRTH_DATE .. today): the import's bounds."""
    return EARLIEST_BIRTH_DATE, today


def birth_date_problem(birth_date: date, today: date) -> str | None:
    """Why `birth_date` cannot be one, or None: one rule for the import, the API and the CLI.

    A day after today is a typing error, and from year 9982 on the 18th birthday is not a
    date at all (adult_on overflowed: an API 500 and a CLI traceback).
    """
    first, last = birth_date_range(today)
    if birth_date < first:
        return f"birth_date {birth_date.isoformat()} is before {first.isoformat()}"
    if birth_date > last:
        return f"birth_date {birth_date.isoformat()} is in the future (today is {last.isoformat()})"
    return None


def block_note_problem(note: str) -> str | None:
    """Why `note` cannot be an entry block's note, or None: one line of plain text (the
    names' rule, controller/domain/text.py), at most BLOCK_NOTE_MAX_LENGTH characters."""
    if len(note) > BLOCK_NOTE_MAX_LENGTH:
        return f"the note is longer than {BLOCK_NOTE_MAX_LENGTH} characters"
    problem = text_problem(note)
    return f"the note: {problem}" if problem else None


def card_listed_twice(cards: Sequence[str]) -> str | None:
    """Why an entry's (normalised) cards cannot be stored together, or None: a card listed
    twice would break the cards table's uniqueness (once a server error). Names the card by
    its last digits only, as everything a person or a log reads does."""
    seen: set[str] = set()
    for card in cards:
        if card in seen:
            return f"card {card_hint(card)} is listed twice"
        seen.add(card)
    return None


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
    block_note: str | None = None  # why the entry block was set (a manager's words)
    guardian_consent: bool = False  # a minor may use Open+: a guardian consented (issue 13)
    more_time: bool = False  # longer unlock and held-open times at the door (issue 14)
    pin: str | None = None  # plain PIN in transit only; never stored, never in the repr

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True) if name != "pin"
        )
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
    block_note: str | None = None  # why the entry block was set; shown to security
    guardian_consent: bool = False  # a minor may enter with the LMS: a guardian consented
    more_time: bool = False  # longer unlock and held-open times at the door

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)

    def is_blocked_on(self, day: date) -> bool:
        return self.entry_blocked and (self.blocked_until is None or day <= self.blocked_until)

    def is_adult_on(self, day: date) -> bool:
        return self.adult_on <= day

    def is_registered_on(self, day: date) -> bool:
        return self.openplus_registered_on is not None and self.openplus_registered_on <= day

    def status(self, today: date, now: datetime, *, lms: bool = False) -> list[MemberStatus]:
        """Everything that would keep this member out today, in one order for every screen.

        `lms`: the branch checks members' PINs with its library system (`lms.enabled`), so a
        member without a PIN on the local list is not kept out for it (staff cards are still
        checked here, and still need one)."""
        locked = self.locked_until is not None and self.locked_until > now
        pin_needed = not lms or self.category is Category.STAFF
        checks = (
            (MemberStatus.BLOCKED, self.is_blocked_on(today)),
            (MemberStatus.EXPIRED, self.valid_until < today),
            (MemberStatus.NOT_REGISTERED, not self.is_registered_on(today)),
            (MemberStatus.UNDER_18, not self.is_adult_on(today)),
            (MemberStatus.NO_PIN, pin_needed and not self.has_pin),
            (MemberStatus.PIN_LOCKED, locked),
        )
        return [status for status, applies in checks if applies]


class MemberStatus(StrEnum):
    """Why the door would refuse a member; the value is the API's word, the name the pages'
    text key (status.<name in lower case>)."""

    BLOCKED = "blocked"
    EXPIRED = "expired"
    NOT_REGISTERED = "not registered"
    UNDER_18 = "under 18"
    NO_PIN = "no PIN"
    PIN_LOCKED = "PIN locked"

    @property
    def text_key(self) -> str:
        return f"status.{self.name.lower()}"
