"""How a member's fields are stored: the members table's field columns and their values.

Shared by the single changes (controller.store.members) and the staged whole-list import
(controller.store.member_list), which write the same columns in the same form; here so that
neither of those modules imports the other's internals.
"""
from __future__ import annotations

from datetime import date, datetime

from controller.domain.members import MemberRow

MEMBER_COLUMNS = (
    "display_name, adult_on, openplus_registered_on, valid_until, entry_blocked, "
    "blocked_until, category"
)


def epoch_ms(moment: datetime) -> int:
    """A moment as whole milliseconds since the epoch, the form updated_ms is stored in."""
    return int(moment.timestamp() * 1000)


# Dates as stored text, by date: a million-row import writes three dates a row, mostly the
# same few thousand, and date.isoformat() cost seconds there. Emptied when full.
_DAY_TEXTS: dict[date, str] = {}
_DAY_TEXTS_KEPT = 50_000


def _day_text(day: date | None) -> str | None:
    """day.isoformat(), remembered (for field_values; look in _DAY_TEXTS first)."""
    if day is None:
        return None
    if len(_DAY_TEXTS) >= _DAY_TEXTS_KEPT:
        _DAY_TEXTS.clear()
    text = _DAY_TEXTS[day] = day.isoformat()
    return text


def field_values(row: MemberRow) -> tuple:
    """The row's MEMBER_COLUMNS as stored; called once per row of an import, so quick."""
    texts = _DAY_TEXTS
    registered, blocked_until = row.openplus_registered_on, row.blocked_until
    return (
        row.display_name, texts.get(row.adult_on) or _day_text(row.adult_on),
        texts.get(registered) or _day_text(registered),  # type: ignore[arg-type]
        texts.get(row.valid_until) or _day_text(row.valid_until), int(row.entry_blocked),
        texts.get(blocked_until) or _day_text(blocked_until),  # type: ignore[arg-type]
        str(row.category),  # a StrEnum's str() is its value, quicker than .value
    )
