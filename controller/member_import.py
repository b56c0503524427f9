"""Reading the Open+ member list exported from the library system (CSV), all or nothing.

The file is checked completely before anything is stored: one bad row rejects the whole file,
and every bad row is reported with its line number and reason.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Iterator

from controller.cards import CardFormatError, card_hint, normalise_card
from controller.members import NEVER, Category, MemberRow, adult_on
from controller.pins import PinFormatError, validate_pin
from controller.problems import Problem

REQUIRED = ("patron_id", "cards", "name", "valid_until")
AGE_COLUMNS = ("birth_date", "adult")  # at least one of these
OPTIONAL = ("openplus_registered", "blocked", "blocked_until", "category", "pin")
KNOWN = REQUIRED + AGE_COLUMNS + OPTIONAL
YES = {"1", "y", "yes", "j", "ja", "true", "waar"}
NO = {"", "0", "n", "no", "nee", "false", "onwaar"}


@dataclass(frozen=True)
class RowError:
    line: int  # 1 = the header line
    reason: Problem  # its English sentence; the pages say it in Dutch

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRejected(Exception):
    """The file was refused whole; `errors` lists every bad row, nothing was stored."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"member list rejected: {len(errors)} problem(s); nothing was changed")


def parse_member_csv(data: bytes, today: date) -> list[tuple[int, MemberRow]]:
    """Validate a whole export into (line, row) pairs; `today` turns an adult flag into a date.

    Raises ImportRejected listing every problem.
    """
    text = _decode(data)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ImportRejected([RowError(1, Problem("import.empty"))])
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as exc:
        raise ImportRejected([RowError(1, Problem("import.unreadable_header", error=exc))]) from None
    _check_header(header)
    rows, errors = [], []
    seen_patrons: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    for line, fields in _numbered(reader, errors):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            errors.append(RowError(line, Problem("import.field_count", expected=len(header),
                                                  found=len(fields))))
            continue
        record = {name: value.strip() for name, value in zip(header, fields)}
        problems: list[Problem] = []
        row = _row(record, today, problems)
        if row is not None:
            if row.patron_id in seen_patrons:
                problems.append(Problem("import.duplicate_patron", patron_id=row.patron_id,
                                        line=seen_patrons[row.patron_id]))
            for card in row.cards:
                if card in seen_cards:
                    problems.append(Problem("import.duplicate_card", card=card_hint(card),
                                            line=seen_cards[card]))
        if problems:
            errors.extend(RowError(line, p) for p in problems)
            continue
        assert row is not None
        seen_patrons[row.patron_id] = line
        seen_cards.update((card, line) for card in row.cards)
        rows.append((line, row))
    if errors:
        raise ImportRejected(errors)
    return rows


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [RowError(line, Problem("import.not_utf8"))]
        ) from None


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


def _numbered(reader: csv.reader, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """Rows with the line they start on; a quoting error ends the file with one error."""
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(line, Problem("import.broken_quoting", error=exc)))
            return
        yield line, fields


def _row(record: dict[str, str], today: date, problems: list[Problem]) -> MemberRow | None:
    patron_id = record["patron_id"]
    if not patron_id:
        problems.append(Problem("import.no_patron_id"))
    name = record["name"]
    if not name:
        problems.append(Problem("import.no_name"))
    cards = []
    for raw in filter(None, (part.strip() for part in record["cards"].split("|"))):
        try:
            cards.append(normalise_card(raw))
        except CardFormatError:
            problems.append(Problem("import.bad_card", card=card_hint(raw)))
    if not cards and not any(p.key == "import.bad_card" for p in problems):
        problems.append(Problem("import.no_card"))
    valid_until = _date(record, "valid_until", problems, required=True)
    registered = _date(record, "openplus_registered", problems)
    blocked_until = _date(record, "blocked_until", problems)
    blocked = _flag(record, "blocked", problems)
    adult_from = _adult_on(record, today, problems)
    category = record.get("category", "").lower() or Category.MEMBER.value
    if category not in {c.value for c in Category}:
        problems.append(Problem("import.bad_category", value=category))
    pin = record.get("pin") or None
    if pin is not None:
        try:
            validate_pin(pin)
        except PinFormatError:
            problems.append(Problem("import.bad_pin"))
    if problems:
        return None
    return MemberRow(
        patron_id=patron_id, display_name=name, cards=tuple(cards), adult_on=adult_from,  # type: ignore[arg-type]
        valid_until=valid_until, openplus_registered_on=registered,  # type: ignore[arg-type]
        entry_blocked=blocked or blocked_until is not None, blocked_until=blocked_until,
        category=Category(category), pin=pin,
    )


def _date(record: dict[str, str], column: str, problems: list[Problem], required: bool = False) -> date | None:
    value = record.get(column, "")
    if not value:
        if required:
            problems.append(Problem("import.empty_column", column=column))
        return None
    for parse in (date.fromisoformat, _dutch_date):
        try:
            return parse(value)
        except ValueError:
            pass
    problems.append(Problem("import.bad_date", column=column, value=value))
    return None


def _dutch_date(value: str) -> date:
    day, month, year = value.replace("/", "-").split("-")
    if len(year) != 4:
        raise ValueError(value)
    return date(int(year), int(month), int(day))


def _flag(record: dict[str, str], column: str, problems: list[Problem]) -> bool:
    value = record.get(column, "").lower()
    if value in YES:
        return True
    if value not in NO:
        problems.append(Problem("import.bad_flag", column=column, value=value))
    return False


def _adult_on(record: dict[str, str], today: date, problems: list[Problem]) -> date | None:
    """The day the member is 18: from the birth date, or from an adult flag (today / never)."""
    if record.get("birth_date"):
        birth = _date(record, "birth_date", problems)
        return adult_on(birth) if birth else None
    if "adult" in record and record["adult"]:
        return today if _flag(record, "adult", problems) else NEVER
    problems.append(Problem("import.no_age"))
    return None
