"""Reading the Open+ member list exported from the library system (CSV), all or nothing.

The file is read as a stream: rows are parsed and checked one at a time and handed on in
batches (see MemberAdmin.import_csv, which stages them in TEMP tables inside one transaction),
so memory does not grow with the file. One bad row still rejects the whole file; the problems
are named with their line numbers, the first MAX_PROBLEMS_NAMED of them and a count of the
rest, so that a file with a million bad rows gives a readable refusal and not a huge one.
"""
from __future__ import annotations

import csv
import io
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import BinaryIO, Iterable, Iterator

from controller.domain.cards import CardFormatError, card_hint, normalise_card
from controller.domain.members import NEVER, Category, MemberRow, adult_on, birth_date_range
from controller.domain.patron_ids import patron_id_problem
from controller.domain.pins import is_pin
from controller.domain.problems import MAX_PROBLEMS_NAMED, Problem
from controller.domain.text import text_problem
from controller.store.member_list import Duplicate, ImportStaging, StaffCard

REQUIRED = ("patron_id", "cards", "name", "valid_until")
AGE_COLUMNS = ("birth_date", "adult")  # at least one of these
OPTIONAL = ("openplus_registered", "blocked", "blocked_until", "category", "pin")
KNOWN = REQUIRED + AGE_COLUMNS + OPTIONAL
YES = {"1", "y", "yes", "j", "ja", "true", "waar"}
NO = {"", "0", "n", "no", "nee", "false", "onwaar"}
CATEGORIES = {c.value: c for c in Category}
DATES_REMEMBERED = 50_000  # parsed dates kept by their text (a few MB at most)
MAX_IMPORT_BYTES = 20 * 1024 * 1024  # an upload through the API or the pages; bigger files: the CLI
BATCH_ROWS = 1000  # rows staged per statement: big enough to be quick, small enough to not matter
# Dates other than the birth date: the same years the API accepts for a point in time. A
# membership "valid until 9999-12-31" is refused with its line rather than stored.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)

_BARE_CR = re.compile(r"(?<=\r)(?!\n)")
MemberSource = bytes | BinaryIO  # the file's bytes, or a binary file to read as a stream


@dataclass(frozen=True)
class RowError:
    line: int  # 1 = the header line
    reason: Problem | str  # its English sentence; the pages say a Problem in Dutch

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRejected(Exception):
    """The file was refused whole; nothing was stored.

    `errors` names the first MAX_PROBLEMS_NAMED problems in line order; `unlisted` counts
    the rest, which `str()` mentions.
    """

    def __init__(self, errors: list[RowError], unlisted: int = 0) -> None:
        self.errors = errors
        self.unlisted = unlisted
        self.total = len(errors) + unlisted
        listed = f", the first {len(errors)} listed" if unlisted else ""
        super().__init__(
            f"member list rejected: {self.total} problem(s){listed}; nothing was changed"
        )


class RowProblems:
    """Problems found while streaming a file, in line order: the first `limit` are kept, the
    rest only counted, so that checking a million bad rows costs no more memory than fifty."""

    def __init__(self, limit: int = MAX_PROBLEMS_NAMED) -> None:
        self.limit = limit
        self.kept: list[RowError] = []
        self.total = 0

    def add(self, line: int, reason: Problem | str) -> None:
        self.total += 1
        if len(self.kept) < self.limit:
            self.kept.append(RowError(line, reason))

    def refuse(self, later: list[RowError] = (), later_total: int = 0) -> None:  # type: ignore[assignment]
        """Raise ImportRejected if anything was found, here or in `later` (problems found
        after the whole file was read, e.g. duplicates: at most `limit` of `later_total`)."""
        total = self.total + later_total
        if not total:
            return
        listed = sorted([*self.kept, *later], key=lambda error: error.line)[:self.limit]
        raise ImportRejected(listed, total - len(listed))


def read_member_csv(source: MemberSource, today: date,
                    problems: RowProblems) -> Iterator[tuple[int, MemberRow]]:
    """(line, row) for every good row, read as a stream; bad rows go to `problems`.

    `today` turns an adult flag into a date and bounds birth dates. A header problem, a
    line that is not UTF-8 or an empty file raises ImportRejected at once. Duplicates across
    the file are not found here: they need the whole file (see ImportStaging.duplicates).
    """
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    lines = _text_lines(stream)
    first = next(lines, "")
    if not first.strip():
        raise ImportRejected([RowError(1, Problem("import.empty"))])
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(_chain_first(first, lines), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as exc:
        raise ImportRejected([RowError(1, Problem("import.unreadable_header", error=exc))]) from None
    _check_header(header)
    columns = _Columns(header, today)
    for line, fields in _numbered(reader, problems):
        if len(fields) != len(header):
            if any(f.strip() for f in fields):
                problems.add(line, Problem("import.field_count", expected=len(header),
                                           found=len(fields)))
            continue
        found: list[Problem] = []
        row = columns.row(fields, found)
        if row is None:
            if found:
                for problem in found:
                    problems.add(line, problem)
            continue
        yield line, row


def parse_member_csv(data: bytes, today: date) -> list[tuple[int, MemberRow]]:
    """Validate a whole export into (line, row) pairs, duplicates included; for small files
    and tests (it keeps every row). Raises ImportRejected naming the problems."""
    problems = RowProblems()
    rows = list(read_member_csv(data, today, problems))
    with closing(sqlite3.connect(":memory:")) as conn:
        staging = ImportStaging(conn)
        for start in range(0, len(rows), BATCH_ROWS):
            staging.add(rows[start:start + BATCH_ROWS])
        refuse_staged(problems, *staging.duplicates(problems.limit))
    return rows


def refuse_staged(problems: RowProblems, duplicates: list[Duplicate], total: int) -> None:
    """Raise ImportRejected for the row problems and the duplicates found in the staged file."""
    problems.refuse([_duplicate_error(d) for d in duplicates], total)


def refuse_staff_cards(staff_cards: list[StaffCard], total: int) -> None:
    """Raise ImportRejected when cards in the list belong to staff entries that stay."""
    if total:
        raise ImportRejected(
            [RowError(c.line, Problem("import.staff_card", patron_id=c.staff_patron))
             for c in staff_cards],
            total - len(staff_cards),
        )


def batches(rows: Iterable[tuple[int, MemberRow]],
            size: int = BATCH_ROWS) -> Iterator[list[tuple[int, MemberRow]]]:
    """The rows in lists of `size`: what one staging statement takes."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _duplicate_error(duplicate: Duplicate) -> RowError:
    if duplicate.column == "patron_id":
        problem = Problem("import.duplicate_patron", patron_id=duplicate.value,
                          line=duplicate.first_line)
    else:
        problem = Problem("import.duplicate_card", card=card_hint(duplicate.value),
                          line=duplicate.first_line)
    return RowError(duplicate.line, problem)


def _text_lines(stream: BinaryIO) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 refuses the file at once."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ImportRejected([RowError(number, Problem("import.not_utf8"))]) from None
        if "\r" in text.rstrip("\r\n"):  # old Mac line ends: a bare CR ends a line too
            yield from filter(None, _BARE_CR.split(text))
        else:
            yield text


def _chain_first(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _check_header(header: list[str]) -> None:
    problems = [Problem("import.missing_column", column=name) for name in REQUIRED
                if name not in header]
    if not any(name in header for name in AGE_COLUMNS):
        problems.append(Problem("import.missing_age_column"))
    problems += [
        Problem("import.unknown_column", column=name, known=", ".join(KNOWN))
        for name in header if name not in KNOWN
    ]
    problems += [Problem("import.column_twice", column=name)
                 for name in sorted(set(header)) if header.count(name) > 1]
    if problems:
        raise ImportRejected([RowError(1, p) for p in problems])


def _numbered(reader: Iterator[list[str]],
              problems: RowProblems) -> Iterator[tuple[int, list[str]]]:
    """Rows with the line they start on; a quoting error ends the file with one problem."""
    while True:
        line = reader.line_num + 1  # type: ignore[attr-defined]
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(line, Problem("import.broken_quoting", error=exc))
            return
        yield line, fields


class _Columns:
    """Turns one row's fields into a MemberRow, with the header's column positions looked up
    once (a million rows make the per-row cost the import's cost: the usual row takes the
    quick paths below, an unusual or bad one the full checks that name its problem)."""

    def __init__(self, header: list[str], today: date) -> None:
        position = {name: n for n, name in enumerate(header)}
        self.today = today
        self.patron_id = position["patron_id"]
        self.cards = position["cards"]
        self.name = position["name"]
        self.valid_until = position["valid_until"]
        self.birth_date = position.get("birth_date")
        self.adult = position.get("adult")
        self.registered = position.get("openplus_registered")
        self.blocked = position.get("blocked")
        self.blocked_until = position.get("blocked_until")
        self.category = position.get("category")
        self.pin = position.get("pin")
        # Good dates by their text, per column (most rows share their dates; a bad one is not
        # kept, its problems are worked out again), and the 18th birthday by the birth date's
        # text. Emptied when full, so they stay small whatever the file.
        self._days: dict[str, dict[str, date]] = {
            "valid_until": {}, "openplus_registered": {}, "blocked_until": {},
        }
        self._adult_on: dict[str, date] = {}

    def row(self, fields: list[str], problems: list[Problem]) -> MemberRow | None:
        """The row, or None with the reasons added to `problems` (none for an empty line)."""
        values = list(map(str.strip, fields))
        if not any(values):
            return None
        patron_id = values[self.patron_id]
        if not patron_id:
            problems.append(Problem("import.no_patron_id"))
        elif patron_id_problem(patron_id):  # the API's rule too (controller/domain/patron_ids.py)
            problems.append(Problem("import.bad_patron_id"))
        name = values[self.name]
        if not name:
            problems.append(Problem("import.no_name"))
        elif not name.isprintable():  # printable text is good text: the full check is rarer
            refused = _refused_character(name)
            if refused:
                problems.append(Problem("import.bad_name", position=refused[0], code=refused[1]))
        cards = _cards(values[self.cards], problems)
        text = values[self.valid_until]
        valid_until = self._days["valid_until"].get(text) or self._date(
            text, "valid_until", problems, required=True)
        registered = blocked_until = None
        if self.registered is not None and (text := values[self.registered]):
            registered = self._days["openplus_registered"].get(text) or self._date(
                text, "openplus_registered", problems)
        if self.blocked_until is not None and (text := values[self.blocked_until]):
            blocked_until = self._days["blocked_until"].get(text) or self._date(
                text, "blocked_until", problems)
        blocked = False
        if self.blocked is not None and (text := values[self.blocked]) not in NO:
            blocked = _flag(text, "blocked", problems)
        adult_from = None
        if self.birth_date is not None and (text := values[self.birth_date]):
            adult_from = self._adult_on.get(text) or self._birth_adult_on(text, problems)
        else:
            adult_from = self._adult_from_flag(values, problems)
        category = CATEGORIES.get(values[self.category]) if self.category is not None else None
        if category is None:
            category = self._category(values, problems)
        pin = values[self.pin] if self.pin is not None else ""
        if pin and not is_pin(pin):
            problems.append(Problem("import.bad_pin"))
        if problems:
            return None
        # Built by position with tuple.__new__ (what MemberRow(...) does, minus its Python
        # wrapper): a million rows make even keywords cost seconds.
        return _new_tuple(MemberRow, (
            patron_id, name, tuple(cards), adult_from, valid_until, registered,
            blocked or blocked_until is not None, blocked_until, category, pin or None,
        ))

    def _date(self, value: str, column: str, problems: list[Problem], required: bool = False,
              first: date = FIRST_DAY, last: date = LAST_DAY) -> date | None:
        """_date, remembered by text when good (callers look in self._days first)."""
        day = _date(value, column, problems, required, first, last)
        if day is not None:
            days = self._days[column]
            if len(days) >= DATES_REMEMBERED:
                days.clear()
            days[value] = day
        return day

    def _birth_adult_on(self, text: str, problems: list[Problem]) -> date | None:
        """The 18th birthday for a birth date's text (remembered), or None with its problem."""
        first, last = birth_date_range(self.today)  # birth_date_problem's rule, said as a Problem
        birth = _date(text, "birth_date", problems, first=first, last=last)
        if birth is None:
            return None
        if len(self._adult_on) >= DATES_REMEMBERED:
            self._adult_on.clear()
        adult_from = self._adult_on[text] = adult_on(birth)
        return adult_from

    def _adult_from_flag(self, values: list[str], problems: list[Problem]) -> date | None:
        """Without a birth date, the adult flag says: adult from today, or never."""
        if self.adult is not None and values[self.adult]:
            return self.today if _flag(values[self.adult], "adult", problems) else NEVER
        problems.append(Problem("import.no_age"))
        return None

    def _category(self, values: list[str], problems: list[Problem]) -> Category | None:
        """The category of a row whose text is not already exact: empty means member."""
        text = values[self.category].lower() if self.category is not None else ""
        category = CATEGORIES.get(text or Category.MEMBER.value)
        if category is None:
            problems.append(Problem("import.bad_category", value=text))
        return category


_new_tuple = tuple.__new__


def _cards(value: str, problems: list[Problem]) -> list[str]:
    cards, bad = [], False
    for raw in value.split("|"):
        raw = raw.strip()
        if not raw:
            continue
        if raw.isascii() and raw.isdigit() and 8 <= len(raw) <= 14:
            cards.append(raw)  # already in normal form: the usual case, skip the regexes
            continue
        try:
            cards.append(normalise_card(raw))
        except CardFormatError:
            problems.append(Problem("import.bad_card", card=card_hint(raw)))
            bad = True
    if not cards and not bad:
        problems.append(Problem("import.no_card"))
    return cards


def _refused_character(text: str) -> tuple[int, str] | None:
    """(position, "U+202E") of the first character controller/domain/text.py refuses, if any:
    the same rule as the API's names, said with values the pages can put in Dutch."""
    for position, char in enumerate(text, start=1):
        if text_problem(char):
            return position, f"U+{ord(char):04X}"
    return None


def _date(value: str, column: str, problems: list[Problem], required: bool = False,
          first: date = FIRST_DAY, last: date = LAST_DAY) -> date | None:
    """The date in `value` (YYYY-MM-DD or DD-MM-YYYY) if it lies in first..last."""
    if not value:
        if required:
            problems.append(Problem("import.empty_column", column=column))
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            day = _dutch_date(value)
        except ValueError:
            problems.append(Problem("import.bad_date", column=column, value=value))
            return None
    if not first <= day <= last:
        problems.append(Problem("import.date_out_of_range", column=column, value=value,
                                first=first.isoformat(), last=last.isoformat()))
        return None
    return day


def _dutch_date(value: str) -> date:
    day, month, year = value.replace("/", "-").split("-")
    if len(year) != 4:
        raise ValueError(value)
    return date(int(year), int(month), int(day))


def _flag(value: str, column: str, problems: list[Problem]) -> bool:
    value = value.lower()
    if value in YES:
        return True
    if value not in NO:
        problems.append(Problem("import.bad_flag", column=column, value=value))
    return False
