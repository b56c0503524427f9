"""Reading the Open+ member list exported from the library system (CSV), all or nothing.

The file is read as a stream: rows are parsed and checked one at a time and handed on in
batches (see MemberAdmin.import_csv, which stages them in TEMP tables inside one transaction),
so memory does not grow with the file. One bad row still rejects the whole file; the problems
are named with their line numbers, the first MAX_PROBLEMS_NAMED of them and a count of the
rest, so that a file with a million bad rows gives a readable refusal and not a huge one.

This module reads the file (decoding, line ends, the header, the rows as a stream) and
refuses it; what each field of a row must be is controller.services.member_import_rows.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import BinaryIO

from controller.domain.cards import card_hint
from controller.domain.members import MemberRow
from controller.domain.problems import MAX_PROBLEMS_NAMED, Problem
from controller.services.member_import_rows import Columns
from controller.store.member_list import Duplicate, ImportStaging, StaffCard

REQUIRED = ("patron_id", "cards", "name", "valid_until")
AGE_COLUMNS = ("birth_date", "adult")  # at least one of these
OPTIONAL = (
    "openplus_registered",
    "blocked",
    "blocked_until",
    "block_note",
    "category",
    "pin",
    "guardian_consent",
    "more_time",
)
# Flags a manager may set on the pages: a file without their column leaves each listed
# entry's stored value as it is (a new entry gets no), so that a nightly export that does
# not know them does not undo what the branch set. A file with the column says it for all.
KEPT_WHEN_ABSENT = frozenset({"guardian_consent", "more_time"})
# The same for an entry block (set by a manager, or by the fleet's shared list): a file with
# none of the block columns leaves each entry's block, its end and its note as stored.
BLOCK_COLUMNS = frozenset({"blocked", "blocked_until", "block_note"})
BLOCK_FIELDS = frozenset({"entry_blocked", "blocked_until", "block_note"})
KNOWN = REQUIRED + AGE_COLUMNS + OPTIONAL
MAX_IMPORT_BYTES = 20 * 1024 * 1024  # an upload through the API or the pages; bigger files: the CLI
BATCH_ROWS = 1000  # rows staged per statement: big enough to be quick, small enough to not matter

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
        super().__init__(f"member list rejected: {self.total} problem(s){listed}; nothing was changed")


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

    def refuse(self, later: Sequence[RowError] = (), later_total: int = 0) -> None:
        """Raise ImportRejected if anything was found, here or in `later` (problems found
        after the whole file was read, e.g. duplicates: at most `limit` of `later_total`)."""
        total = self.total + later_total
        if not total:
            return
        listed = sorted([*self.kept, *later], key=lambda error: error.line)[: self.limit]
        raise ImportRejected(listed, total - len(listed))


def read_member_csv(
    source: MemberSource, today: date, problems: RowProblems, header_out: set[str] | None = None
) -> Iterator[tuple[int, MemberRow]]:
    """(line, row) for every good row, read as a stream; bad rows go to `problems`.

    `today` turns an adult flag into a date and bounds birth dates. A header problem, a
    line that is not UTF-8 or an empty file raises ImportRejected at once. Duplicates across
    the file are not found here: they need the whole file (see ImportStaging.duplicates).
    `header_out`, when given, gets the file's column names once the header is read (before
    the first row is yielded): what kept_fields() needs.
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
    if header_out is not None:
        header_out.update(header)
    columns = Columns(header, today)
    row_of, width = columns.row, len(header)
    found: list[Problem] = []  # one row's problems; emptied after each bad row
    while True:
        line = reader.line_num + 1  # the line the next row starts on
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a quoting error ends the file with one problem
            problems.add(line, Problem("import.broken_quoting", error=exc))
            return
        if len(fields) != width:
            if any(f.strip() for f in fields):
                problems.add(line, Problem("import.field_count", expected=width, found=len(fields)))
            continue
        row = row_of(fields, found)
        if row is None:
            for problem in found:
                problems.add(line, problem)
            found.clear()
            continue
        yield line, row


def kept_fields(header: set[str]) -> frozenset[str]:
    """The stored fields an existing entry keeps because the file has no column for them."""
    return (KEPT_WHEN_ABSENT - header) | (BLOCK_FIELDS if not header & BLOCK_COLUMNS else frozenset())


def parse_member_csv(data: bytes, today: date) -> list[tuple[int, MemberRow]]:
    """Validate a whole export into (line, row) pairs, duplicates included; for small files
    and tests (it keeps every row). Raises ImportRejected naming the problems."""
    problems = RowProblems()
    rows = list(read_member_csv(data, today, problems))
    with closing(sqlite3.connect(":memory:")) as conn:
        staging = ImportStaging(conn)
        for start in range(0, len(rows), BATCH_ROWS):
            staging.add(rows[start : start + BATCH_ROWS])
        refuse_staged(problems, *staging.duplicates(problems.limit))
    return rows


def refuse_staged(problems: RowProblems, duplicates: list[Duplicate], total: int) -> None:
    """Raise ImportRejected for the row problems and the duplicates found in the staged file."""
    problems.refuse([_duplicate_error(d) for d in duplicates], total)


def refuse_staff_cards(staff_cards: list[StaffCard], total: int) -> None:
    """Raise ImportRejected when cards in the list belong to staff entries that stay."""
    if total:
        raise ImportRejected(
            [RowError(c.line, Problem("import.staff_card", patron_id=c.staff_patron)) for c in staff_cards],
            total - len(staff_cards),
        )


def batches(
    rows: Iterable[tuple[int, MemberRow]], size: int = BATCH_ROWS
) -> Iterator[list[tuple[int, MemberRow]]]:
    """The rows in lists of `size`: what one staging statement takes."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _duplicate_error(duplicate: Duplicate) -> RowError:
    if duplicate.column == "patron_id":
        problem = Problem("import.duplicate_patron", patron_id=duplicate.value, line=duplicate.first_line)
    else:
        problem = Problem("import.duplicate_card", card=card_hint(duplicate.value), line=duplicate.first_line)
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
    problems = [Problem("import.missing_column", column=name) for name in REQUIRED if name not in header]
    if not any(name in header for name in AGE_COLUMNS):
        problems.append(Problem("import.missing_age_column"))
    problems += [
        Problem("import.unknown_column", column=name, known=", ".join(KNOWN))
        for name in header
        if name not in KNOWN
    ]
    problems += [
        Problem("import.column_twice", column=name) for name in sorted(set(header)) if header.count(name) > 1
    ]
    if problems:
        raise ImportRejected([RowError(1, p) for p in problems])
