"""How times and days are stored, and read back: the one place that converts them.

Moments are stored as whole milliseconds since the Unix epoch (UTC by definition, so a
daylight-saving change or a moved time zone cannot shift them) and come back as aware UTC
datetimes. Days are stored as ISO text (YYYY-MM-DD), which sorts and compares like the day.
Why one module: the same conversion was written ten times, and a copy that rounds or reads a
naive datetime differently would make a cursor, a retention cut-off or a keep mark miss by one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """`moment` as whole milliseconds since the epoch (floored: exact integer arithmetic, not
    a float that can land a hair below the millisecond). A naive datetime is refused rather than
    read as the machine's local time: every moment this program handles is aware."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"naive datetime {moment.isoformat()} cannot be stored: give it a "
            "time zone (the controller's moments are aware)"
        )
    return (moment - _EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    """A stored millisecond count as an aware UTC datetime."""
    return _EPOCH + ms * _ONE_MS


def to_ms_or_none(moment: datetime | None) -> int | None:
    """to_ms for a nullable column."""
    return None if moment is None else to_ms(moment)


def from_ms_or_none(ms: int | None) -> datetime | None:
    """from_ms for a nullable column (NULL stays None)."""
    return None if ms is None else from_ms(ms)


def day_text(day: date) -> str:
    """A day as stored: ISO text."""
    return day.isoformat()


def day_text_or_none(day: date | None) -> str | None:
    """day_text for a nullable column (no day is NULL)."""
    return None if day is None else day.isoformat()


def day_from_text(text: str) -> date:
    """A stored ISO day back as a date."""
    return date.fromisoformat(text)


def day_from_text_or_none(text: str | None) -> date | None:
    """day_from_text for a nullable column; NULL or empty text is no day."""
    return date.fromisoformat(text) if text else None
