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

REQUIRED = ("patron_id", "cards", "name", "valid_until")
AGE_COLUMNS = ("birth_date", "adult")  # at least one of these
OPTIONAL = ("openplus_registered", "blocked", "blocked_until", "category", "pin")
KNOWN = REQUIRED + AGE_COLUMNS + OPTIONAL
YES = {"1", "y", "yes", "j", "ja", "true", "waar"}
NO = {"", "0", "n", "no", "nee", "false", "onwaar"}


@dataclass(frozen=True)
class RowError:
    line: int  # 1 = the header line
    reason: str

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
        raise ImportRejected([RowError(1, "the file is empty: expected a header line")])
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as exc:
        raise ImportRejected([RowError(1, f"unreadable header ({exc})")]) from None
    _check_header(header)
    rows, errors = [], []
    seen_patrons: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    for line, fields in _numbered(reader, errors):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            errors.append(RowError(line, f"expected {len(header)} fields, found {len(fields)}"))
            continue
        record = {name: value.strip() for name, value in zip(header, fields)}
        problems: list[str] = []
        row = _row(record, today, problems)
        if row is not None:
            if row.patron_id in seen_patrons:
                problems.append(
                    f"duplicate patron_id {row.patron_id} (also on line {seen_patrons[row.patron_id]})"
                )
            for card in row.cards:
                if card in seen_cards:
                    problems.append(
                        f"duplicate card {card_hint(card)} (also on line {seen_cards[card]})"
                    )
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
            [RowError(line, "not UTF-8 text: save the export as CSV UTF-8")]
        ) from None


def _check_header(header: list[str]) -> None:
    problems = [f"missing column '{name}'" for name in REQUIRED if name not in header]
    if not any(name in header for name in AGE_COLUMNS):
        problems.append("missing column 'birth_date' or 'adult'")
    problems += [
        f"unknown column '{name}' (known: {', '.join(KNOWN)})" for name in header if name not in KNOWN
    ]
    problems += [f"column '{name}' appears twice" for name in set(header) if header.count(name) > 1]
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
            errors.append(RowError(line, f"broken CSV quoting ({exc})"))
            return
        yield line, fields


def _row(record: dict[str, str], today: date, problems: list[str]) -> MemberRow | None:
    patron_id = record["patron_id"]
    if not patron_id:
        problems.append("patron_id is empty")
    name = record["name"]
    if not name:
        problems.append("name is empty (initials are enough)")
    cards = []
    for raw in filter(None, (part.strip() for part in record["cards"].split("|"))):
        try:
            cards.append(normalise_card(raw))
        except CardFormatError as exc:
            problems.append(f"card {card_hint(raw)}: {exc}")
    if not cards and not any("card" in p for p in problems):
        problems.append("no card number")
    valid_until = _date(record, "valid_until", problems, required=True)
    registered = _date(record, "openplus_registered", problems)
    blocked_until = _date(record, "blocked_until", problems)
    blocked = _flag(record, "blocked", problems)
    adult_from = _adult_on(record, today, problems)
    category = record.get("category", "").lower() or Category.MEMBER.value
    if category not in {c.value for c in Category}:
        problems.append(f"category must be 'member' or 'staff', not '{category}'")
    pin = record.get("pin") or None
    if pin is not None:
        try:
            validate_pin(pin)
        except PinFormatError as exc:
            problems.append(str(exc))
    if problems:
        return None
    return MemberRow(
        patron_id=patron_id, display_name=name, cards=tuple(cards), adult_on=adult_from,  # type: ignore[arg-type]
        valid_until=valid_until, openplus_registered_on=registered,  # type: ignore[arg-type]
        entry_blocked=blocked or blocked_until is not None, blocked_until=blocked_until,
        category=Category(category), pin=pin,
    )


def _date(record: dict[str, str], column: str, problems: list[str], required: bool = False) -> date | None:
    value = record.get(column, "")
    if not value:
        if required:
            problems.append(f"{column} is empty")
        return None
    for parse in (date.fromisoformat, _dutch_date):
        try:
            return parse(value)
        except ValueError:
            pass
    problems.append(f"{column} '{value}' is not a date (use YYYY-MM-DD or DD-MM-YYYY)")
    return None


def _dutch_date(value: str) -> date:
    day, month, year = value.replace("/", "-").split("-")
    if len(year) != 4:
        raise ValueError(value)
    return date(int(year), int(month), int(day))


def _flag(record: dict[str, str], column: str, problems: list[str]) -> bool:
    value = record.get(column, "").lower()
    if value in YES:
        return True
    if value not in NO:
        problems.append(f"{column} must be yes/no (ja/nee, 1/0), not '{value}'")
    return False


def _adult_on(record: dict[str, str], today: date, problems: list[str]) -> date | None:
    """The day the member is 18: from the birth date, or from an adult flag (today / never)."""
    if record.get("birth_date"):
        birth = _date(record, "birth_date", problems)
        return adult_on(birth) if birth else None
    if "adult" in record and record["adult"]:
        return today if _flag(record, "adult", problems) else NEVER
    problems.append("birth_date or adult is empty")
    return None
