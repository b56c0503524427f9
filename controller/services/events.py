"""Reading the event log as the API and the pages both do: an opaque paging cursor, and the
CSV export streamed in batches.

Why here and not in a router: the entries page and the API's /events share both, and the
pages may not import the API.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Iterator
from contextlib import closing

from controller.domain.clock import format_local, to_local, to_utc
from controller.domain.events import Event
from controller.services.lms_access import decided_by_of
from controller.services.privacy import masked_event
from controller.services.runtime import Runtime
from controller.store.events import EventCursor, EventFilter, EventLog


class BadCursor(ValueError):
    """A paging cursor this service did not hand out (or one out of range)."""


EXPORT_BATCH = 1000
# decided_by last: columns added later go at the end, so existing spreadsheets keep their places.
CSV_COLUMNS = (
    "id",
    "time_local",
    "time_utc",
    "type",
    "door",
    "reason",
    "member",
    "card_hint",
    "actor",
    "detail",
    "decided_by",
)
_CURSOR_PREFIX = "e2:"
# SQLite integers are signed 64-bit: a bigger id overflows inside the driver (once a 500), so
# every id a request carries is bounded well inside that; no row ever gets an id this large.
MAX_ID = 2**62


def encode_cursor(cursor: EventCursor) -> str:
    text = f"{_CURSOR_PREFIX}{cursor.ts_ms}:{cursor.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> EventCursor:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        ts_text, id_text = text.removeprefix(_CURSOR_PREFIX).split(":")
        ts_ms, event_id = int(ts_text), int(id_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("cursor is not one this API handed out; start again without it") from None
    if not (1 <= event_id <= MAX_ID and 0 <= ts_ms <= 2**50):
        raise BadCursor("cursor is out of range; start again without it")
    return EventCursor(ts_ms, event_id)


def csv_lines(runtime: Runtime, where: EventFilter, masked: bool = False) -> Iterator[str]:
    """The CSV export, batch by batch on its own connection (it outlives the request handler);
    the API and the entries page both stream it. `masked`: patron ids as masked_event shows
    them (a viewer without the manager role)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + flush()
    with closing(runtime.connection()) as conn:
        log, before = EventLog(conn), None
        while True:
            batch = log.query(where, limit=EXPORT_BATCH, before=before)
            for e in map(masked_event, batch) if masked else batch:
                writer.writerow(
                    [
                        e.id,
                        to_local(e.at).isoformat(sep=" "),
                        to_utc(e.at).isoformat(sep=" "),
                        e.type.value,
                        e.door,
                        *(_cell(v) for v in (e.reason, e.member_ref, e.card_hint, e.actor, e.detail)),
                        _decided_by(e),
                    ]
                )
            yield flush()
            if len(batch) < EXPORT_BATCH:
                return
            before = EventCursor.after(batch[-1])


def _decided_by(event: Event) -> str:
    """Which path decided an access event on a branch with a library system, else empty."""
    path = decided_by_of(event.detail)
    return path.value if path is not None else ""


def _cell(value: str | None) -> str:
    """Text as a spreadsheet will show it: never as a formula (=, +, -, @ at the start)."""
    if not value:
        return ""
    return "'" + value if value[0] in "=+-@\t\r" else value


def event_line(event: Event) -> str:
    """One event as a line for a terminal, in branch time: `events list` and the simulator's
    `events` both print these. Who: the patron id of an entry, else the actor of a change."""
    who = event.member_ref or event.actor or ""
    return (
        f"{format_local(event.at)}  {event.type.value:<15} {event.reason or '':<16} {who:<14} "
        f"{event.card_hint or '':<6} {event.detail or ''}"
    )
