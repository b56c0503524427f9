"""A problem found in uploaded data (a member-list row, a schedule), kept as a key and values.

Decision: a Problem *is* its English sentence (a str subclass), so the API, the CLI and the
logs use it as text unchanged, while the pages look up its key and say it in Dutch
(controller/web/problems_nl.py). Its `place` (a Place: where in the document) is a typed
value every problem may have; it is named in front of the sentence, and code that needs to
know where a problem belongs reads the place, never the sentence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from controller.domain.cards import CARD_FORMAT_HELP

ENGLISH: dict[str, str] = {
    # member list (CSV)
    "import.empty": "the file is empty: expected a header line",
    "import.unreadable_header": "unreadable header ({error})",
    "import.not_utf8": "not UTF-8 text: save the export as CSV UTF-8",
    "import.missing_column": "missing column '{column}'",
    "import.missing_age_column": "missing column 'birth_date' or 'adult'",
    "import.unknown_column": "unknown column '{column}' (known: {known})",
    "import.column_twice": "column '{column}' appears twice",
    "import.broken_quoting": "broken CSV quoting ({error})",
    "import.field_count": "expected {expected} fields, found {found}",
    "import.duplicate_patron": "duplicate patron_id {patron_id} (also on line {line})",
    "import.duplicate_card": "duplicate card {card} (also on line {line})",
    "import.no_patron_id": "patron_id is empty",
    "import.bad_patron_id": "patron_id must be at most 64 characters, without spaces, control "
                            "or invisible characters",
    "import.no_name": "name is empty (initials are enough)",
    "import.bad_name": "name: character {position} ({code}) is a control or invisible "
                       "character, which is not allowed",
    "import.bad_card": "card {card}: unknown card format: expected " + CARD_FORMAT_HELP,
    "import.no_card": "no card number",
    "import.empty_column": "{column} is empty",
    "import.bad_date": "{column} '{value}' is not a date (use YYYY-MM-DD or DD-MM-YYYY)",
    "import.bad_flag": "{column} must be yes/no (ja/nee, 1/0), not '{value}'",
    "import.bad_category": "category must be 'member' or 'staff', not '{value}'",
    "import.bad_pin": "PIN must be 4 to 6 digits",
    "import.no_age": "birth_date or adult is empty",
    "import.date_out_of_range": "{column} '{value}' is not between {first} and {last}",
    "import.staff_card": "card already belongs to staff entry {patron_id}",
    # any list of problems
    "more_problems": "and {count} more problems",
    # schedule
    "schedule.bad_time": "bad time '{value}': use HH:MM from 00:00 to 23:59, or 24:00 as an end",
    "schedule.midnight_start": "24:00 can only be an end time",
    "schedule.start_not_before_end": "{start}-{end} {kind}: start is not before end",
    "schedule.overlap": "{start}-{end} {kind} overlaps {other_start}-{other_end} {other_kind}",
    "schedule.two_exceptions": "more than one exception for this date",
    "schedule.closure_with_windows": "a closure has no windows (use special_hours)",
    "schedule.refused_value": "{message}",  # the validator's (pydantic's) own words
}


@dataclass(frozen=True)
class Place:
    """Where in a document a problem is.

    `path` is the position as pydantic names it (field names and list indexes, e.g.
    ("weekly", "monday", 0, "start") or ("exceptions", 2)): what code reads to put a problem
    in its spot. `name`, when set, is how a person is told instead of the dotted path: a
    weekday ("monday") or an exception's date ("2026-12-24") says more than its index.
    """

    path: tuple[str | int, ...]
    name: str = ""

    def __str__(self) -> str:
        return self.name or ".".join(str(part) for part in self.path)


class Problem(str):
    """One problem: the English sentence, plus `key`, `values` and `place` to say it in
    another language."""

    key: str
    values: dict[str, str]
    place: Place | None

    def __new__(cls, key: str, /, place: Place | None = None, **values: object) -> Problem:
        texts = {name: str(value) for name, value in values.items()}
        sentence = ENGLISH[key].format(**texts)
        where = str(place) if place is not None else ""
        self = super().__new__(cls, f"{where}: {sentence}" if where else sentence)
        self.key, self.values, self.place = key, texts, place
        return self

    def at(self, place: Place) -> Problem:
        """The same problem, placed (a validator knows the value, the caller where it was)."""
        return Problem(self.key, place, **self.values)


class ProblemError(ValueError):
    """A ValueError that carries a Problem through pydantic validation."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


MAX_PROBLEMS_NAMED = 50
_Said = TypeVar("_Said", bound=str)  # a Problem, or another text (a library's own message)


def first_problems(problems: list[_Said], limit: int = MAX_PROBLEMS_NAMED) -> list[_Said | Problem]:
    """The first `limit` problems, then one saying how many more: a refusal stays readable
    and small however much was wrong (a crafted request once drew a 260 MB answer)."""
    if len(problems) <= limit:
        return [*problems]
    return [*problems[:limit], Problem("more_problems", count=len(problems) - limit)]
