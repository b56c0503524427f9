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
    "blocked_until, category, block_note, guardian_consent, more_time"
)
MEMBER_FIELDS = tuple(column.strip() for column in MEMBER_COLUMNS.split(","))


def epoch_ms(moment: datetime) -> int:
    """A moment as whole milliseconds since the epoch, the form updated_ms is stored in."""
    return int(moment.timestamp() * 1000)


class _DayTexts(dict[date | None, str | None]):
    """day.isoformat() by day (None for None), remembered: a million-row import writes three
    dates a row, mostly the same few thousand, and date.isoformat() cost seconds there. A
    dict subclass with only __missing__, so a remembered day is a plain C-level lookup (no
    Python call per date). Emptied when full, so it stays small whatever the file."""

    KEPT = 50_000

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, day: date | None) -> str | None:
        if len(self) >= self.KEPT:
            self.clear()
            self[None] = None
        text = self[day] = day.isoformat() if day is not None else None
        return text


_DAY_TEXTS = _DayTexts()


def field_values(row: MemberRow) -> tuple:
    """The row's MEMBER_COLUMNS as stored; called once per row of an import, so quick."""
    texts = _DAY_TEXTS
    return (
        row.display_name,
        texts[row.adult_on],
        texts[row.openplus_registered_on],
        texts[row.valid_until],
        int(row.entry_blocked),
        texts[row.blocked_until],
        str(row.category),  # a StrEnum's str() is its value, quicker than .value
        row.block_note,
        int(row.guardian_consent),
        int(row.more_time),
    )
