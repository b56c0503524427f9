"""Days and times a request may carry: the years the API takes, and strict day and time formats.

Years 1970 to 9998: SQLite stores times as milliseconds since 1970, and turning a moment into
branch time (zoneinfo) needs a year on either side of it. The range is stated in the schema
(YEARS, in the field descriptions) as well as enforced.

A day is text in ISO form, YYYY-MM-DD, and nothing else: `{"until": 0}` once blocked a member
"until 1970-01-01" (a Unix timestamp taken as a date) and 0.5 was read as one too. A moment
(the event log's and the footage list's `since` and `until`) is ISO text likewise: `since=7`
was read as 7 seconds after 1970, though the schema asked for a date-time.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

FIRST_YEAR = 1970
LAST_YEAR = 9998
LAST_DAY = date(LAST_YEAR, 12, 31)
YEARS = f"Years {FIRST_YEAR} to {LAST_YEAR}."
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_day(text: str) -> date | None:
    """`text` as a day if it is exactly YYYY-MM-DD, a real date, in FIRST_YEAR..LAST_YEAR."""
    text = text.strip()
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def _strict_day(value: Any) -> Any:
    """Before pydantic's own date parsing: only YYYY-MM-DD text (or a date, from Python)."""
    if isinstance(value, date) or value is None:
        return value
    if not isinstance(value, str):
        raise ValueError("use a date as text, YYYY-MM-DD (not a number)")
    day = iso_day(value)
    if day is None:
        raise ValueError(f"use a real date as YYYY-MM-DD between {FIRST_YEAR} and {LAST_YEAR}")
    return day


_YEAR_RANGE_SCHEMA = {"formatMinimum": f"{FIRST_YEAR}-01-01", "formatMaximum": LAST_DAY.isoformat()}
# Date fields taking only YYYY-MM-DD text in FIRST_YEAR..LAST_YEAR (say YEARS in their
# description); the schema states the range too. OptionalDay takes null as well.
StrictDay = Annotated[date, BeforeValidator(_strict_day), Field(json_schema_extra=_YEAR_RANGE_SCHEMA)]
OptionalDay = Annotated[
    date | None, BeforeValidator(_strict_day), Field(json_schema_extra=_YEAR_RANGE_SCHEMA)
]


def past_day_problem(name: str, day: date | None, today: date) -> str | None:
    """`name: ...` when `day` lies before `today` (the branch's, from the injected clock)."""
    if day is not None and day < today:
        return f"{name}: {day.isoformat()} is in the past (today is {today.isoformat()})"
    return None


# ISO 8601 as the API takes it: minutes at least, optional seconds and fraction, optional offset
# (without one, the time is branch-local). The schema states this pattern rather than the
# `date-time` format, which demands seconds and an offset that the API does not.
MOMENT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_ISO_MOMENT = re.compile(MOMENT_PATTERN)


def _strict_moment(value: Any) -> Any:
    """Before pydantic's own datetime parsing, which would also take a number of seconds."""
    if isinstance(value, datetime) or value is None:
        return value
    if not isinstance(value, str) or not _ISO_MOMENT.fullmatch(value):
        raise ValueError(
            "use a time as ISO text, YYYY-MM-DDTHH:MM with optional seconds and "
            "offset (e.g. 2026-03-29T07:00 or 2026-03-29T05:00:00Z), not a number"
        )
    return value


# A time as ISO text only (say YEARS in the description; the range is checked where it is used).
StrictMoment = Annotated[
    datetime, BeforeValidator(_strict_moment), WithJsonSchema({"type": "string", "pattern": MOMENT_PATTERN})
]
