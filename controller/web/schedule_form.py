"""The schedule as the week-view form shows it: rows of text fields, to and from a Schedule.

What was typed is kept as typed (a bad time stays in its field); only `document()` turns the
rows into the schedule document that controller.domain.schedule validates. Blank rows are ignored,
so "add row" can always offer an empty one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.domain.holidays import HOLIDAY_KEYS
from controller.domain.problems import Problem
from controller.domain.schedule import WEEKDAYS, Schedule

EXCEPTIONS = "exceptions"
GENERAL = "general"
MAX_ROWS = 24  # per day / for exceptions: bounds what a crafted form can make us build


@dataclass
class WindowRow:
    start: str = ""
    end: str = ""
    kind: str = "openplus"

    def is_blank(self) -> bool:
        return not self.start.strip() and not self.end.strip()


@dataclass
class ExceptionRow:
    """One exception line; several special-hours lines on one date make one exception."""

    date: str = ""
    kind: str = "closure"
    start: str = ""
    end: str = ""
    window_kind: str = "openplus"
    note: str = ""

    def is_blank(self) -> bool:
        return not any(v.strip() for v in (self.date, self.start, self.end, self.note))


@dataclass
class ScheduleForm:
    """The week view's fields: windows per weekday, exception rows, switched-on holidays."""

    weekly: dict[str, list[WindowRow]] = field(default_factory=lambda: {d: [] for d in WEEKDAYS})
    exceptions: list[ExceptionRow] = field(default_factory=list)
    holidays: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleForm:
        form = cls()
        for day in WEEKDAYS:
            form.weekly[day] = [
                WindowRow(w.start, w.end, w.kind)
                for w in sorted(getattr(schedule.weekly, day), key=lambda w: w.start_minute)
            ]
        for exception in sorted(schedule.exceptions, key=lambda e: e.date):
            day = exception.date.isoformat()
            if exception.kind == "closure" or not exception.windows:
                form.exceptions.append(ExceptionRow(day, exception.kind, note=exception.note))
            for window in exception.windows:
                form.exceptions.append(
                    ExceptionRow(day, exception.kind, window.start, window.end, window.kind, exception.note)
                )
        form.holidays = set(schedule.holidays_closed)
        return form

    @classmethod
    def parse(cls, fields: Mapping[str, str], holidays: list[str]) -> ScheduleForm:
        """From the posted fields `monday-0-start`, `exc-2-date`, ... (rows in index order)."""
        form = cls()
        for day in WEEKDAYS:
            form.weekly[day] = [
                WindowRow(
                    fields.get(f"{day}-{i}-start", ""),
                    fields.get(f"{day}-{i}-end", ""),
                    fields.get(f"{day}-{i}-kind", "openplus"),
                )
                for i in _indexes(fields, day)
            ]
        form.exceptions = [
            ExceptionRow(
                *(
                    fields.get(f"exc-{i}-{name}", default)
                    for name, default in (
                        ("date", ""),
                        ("kind", "closure"),
                        ("start", ""),
                        ("end", ""),
                        ("window_kind", "openplus"),
                        ("note", ""),
                    )
                )
            )
            for i in _indexes(fields, "exc")
        ]
        form.holidays = {key for key in holidays if key in HOLIDAY_KEYS}
        return form

    def apply(self, action: str) -> None:
        """Add or remove a row: `add:monday`, `remove:monday:1`, `add:exc`, `remove:exc:0`."""
        parts = action.split(":")
        if len(parts) == 2 and parts[0] == "add":
            rows = self._rows(parts[1])
            if rows is not None and len(rows) < MAX_ROWS:
                rows.append(ExceptionRow() if parts[1] == "exc" else WindowRow())
        elif len(parts) == 3 and parts[0] == "remove" and parts[2].isdigit():
            rows = self._rows(parts[1])
            if rows is not None and int(parts[2]) < len(rows):
                del rows[int(parts[2])]

    def _rows(self, name: str) -> list | None:
        return self.exceptions if name == "exc" else self.weekly.get(name)

    def document(self) -> dict[str, Any]:
        """The schedule document for parse_schedule; blank rows left out, dates grouped."""
        weekly = {
            day: [
                {"start": r.start.strip(), "end": r.end.strip(), "kind": r.kind}
                for r in rows
                if not r.is_blank()
            ]
            for day, rows in self.weekly.items()
        }
        grouped: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.exceptions:
            if row.is_blank():
                continue
            key = (row.date.strip(), row.kind)
            exception = grouped.setdefault(
                key, {"date": row.date.strip(), "kind": row.kind, "windows": [], "note": row.note.strip()}
            )
            if row.kind == "special_hours" and (row.start.strip() or row.end.strip()):
                exception["windows"].append(
                    {"start": row.start.strip(), "end": row.end.strip(), "kind": row.window_kind}
                )
        holidays = [key for key in HOLIDAY_KEYS if key in self.holidays]
        return {"weekly": weekly, "exceptions": list(grouped.values()), "holidays_closed": holidays}


def _indexes(fields: Mapping[str, str], prefix: str) -> list[int]:
    pattern = re.compile(rf"{re.escape(prefix)}-(\d{{1,2}})-")
    found = {int(m.group(1)) for name in fields if (m := pattern.match(name))}
    return sorted(i for i in found if i < MAX_ROWS)


def place_problems(problems: Sequence[str]) -> dict[str, list[str]]:
    """Each problem where it belongs: a weekday, the exceptions, or general.

    Read from each Problem's typed place (its path in the schedule document, such as
    ("weekly", "monday", 0, "start") or ("exceptions", 1)); any other text is general.
    """
    placed: dict[str, list[str]] = {}
    for problem in problems:
        path = problem.place.path if isinstance(problem, Problem) and problem.place else ()
        if path[:1] == ("weekly",) and len(path) > 1 and path[1] in WEEKDAYS:
            where = str(path[1])
        elif path[:1] == ("exceptions",):
            where = EXCEPTIONS
        else:
            where = GENERAL
        placed.setdefault(where, []).append(problem)
    return placed
