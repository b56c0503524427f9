"""The filler: new events from the event log into the fleet's outbox, pseudonymised.

As the alert watch (services/alerts/watch.py) it reads the events table rather than hooking
the writers (the web process and the camera write events too), and it moves its cursor in the
same transaction as the rows it adds, so after a crash or a restart it goes on where it
stopped: every event becomes exactly one outbox row. It fills while the broker is down too: the
outbox is what survives the event log's retention.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

from controller.domain.clock import Clock
from controller.services.fleet.commands import NOT_KEPT, CommandRefused
from controller.services.fleet.messages import Topics, event_message
from controller.store.db import Database, transaction
from controller.store.fleet_outbox import FleetOutbox

BATCH = 500  # events per transaction: the door's event writer waits at most this long
PURGE_EVERY = timedelta(hours=1)


class OutboxFiller:
    """`fill_once(conn)` puts the events written since the last call into the outbox."""

    def __init__(self, topics: Topics, key: bytes, clock: Clock, keep_sent_days: int) -> None:
        self._topics = topics
        self._key = key
        self._clock = clock
        self._keep_sent = timedelta(days=keep_sent_days)
        self._purged_at: datetime | None = None

    def begin(self, db: Database) -> None:
        """On the first start ever the cursor is put at the newest event: the fleet hears what
        happens from now on, not the whole past of the log."""
        with closing(db.connect()) as conn, transaction(conn):
            box = FleetOutbox(conn)
            if box.cursor() is None:
                box.set_cursor(box.newest_event_id())

    def fill_once(self, conn: sqlite3.Connection) -> int:
        """Rows added; the cursor moves with them, in one transaction per batch."""
        added = 0
        while True:
            box = FleetOutbox(conn)
            with transaction(conn):
                after = box.cursor()
                if after is None:  # begin() not called: start from now
                    box.set_cursor(box.newest_event_id())
                    break
                events = box.events_after(after, BATCH)
                now = self._clock()
                for event in events:
                    box.add(self._topics.events, event_message(self._topics.branch, event, self._key), now)
                if events:
                    box.set_cursor(events[-1].id)
            added += len(events)
            if len(events) < BATCH:
                break
        self._purge(conn)
        return added

    def _purge(self, conn: sqlite3.Connection) -> None:
        now = self._clock()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        with transaction(conn):
            FleetOutbox(conn).purge_sent_before(now - self._keep_sent)


def resend(conn: sqlite3.Connection, body: dict[str, Any], keep_sent_days: int) -> list[Any]:
    """A console's `resend` (body checked by commands.resend_problem): the rows with those seqs
    go back in the queue, under their ids and seqs (the console stores each once). Refused,
    naming the range, when none of them is kept any more; when only the oldest are gone, the
    rest is sent, and the console's next ask for the part still missing gets the refusal."""
    low, high = int(body["from_seq"]), int(body["to_seq"])
    if FleetOutbox(conn).mark_unsent(low, high) is None:
        raise CommandRefused(
            f"resend: seq {low}..{high} {NOT_KEPT} at this branch "
            f"(sent messages stay {keep_sent_days} days in its outbox)"
        )
    return []  # the publisher finds the rows on its next wake (the ack's)
