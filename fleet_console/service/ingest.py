"""Storing what arrives from the broker: state, heartbeat, events (deduplicated by id), acks;
and which of the branch's seqs came (service/gaps.py), in the same transaction.

One message, one short transaction. A malformed message is counted (ingest_counts, by kind) and
logged in one line, and the ingest goes on: nothing a branch or an intruder on the broker sends
can stop the console from hearing the others. Logged lines never carry a whole payload.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

from controller.domain.clock import Clock
from controller.store.db import transaction
from fleet_console.service.gaps import acked_seq_heard, resend_answered, seq_received
from fleet_console.service.incoming import AckIn, EventIn, HeartbeatIn, Incoming, Malformed, StateIn, parse
from fleet_console.store.branches import BranchStore
from fleet_console.store.commands import CommandStore
from fleet_console.store.fleet_events import FleetEvent, FleetEventStore, IngestCounts, is_alert

log = logging.getLogger(__name__)

RECEIVED, DUPLICATE, UNKNOWN_ACK, FAILED = "received", "duplicate", "unknown_ack", "failed"
LOGGED_IN_FULL = 20  # malformed messages logged one by one; after that every LOG_EVERY-th
LOG_EVERY = 1000  # (a flood from the broker must not fill the disk with the same line)


def malformed_name(kind: str) -> str:
    return f"malformed:{kind}"


class Ingest:
    """Takes one message at a time on its own connection (the link's thread)."""

    def __init__(self, conn: sqlite3.Connection, prefix: str, clock: Clock) -> None:
        self._conn = conn
        self._prefix = prefix
        self._clock = clock
        self.malformed = 0  # since start, for the log's rate limit

    def handle(self, topic: str, payload: bytes) -> str:
        """What became of the message: received, duplicate, unknown_ack, malformed:<kind>, failed."""
        try:
            incoming = parse(topic, payload, self._prefix)
        except Malformed as bad:
            self.malformed += 1
            if self.malformed <= LOGGED_IN_FULL or self.malformed % LOG_EVERY == 0:
                log.warning(
                    "fleet console: malformed message dropped (%s, %d since start): %s",
                    bad.kind,
                    self.malformed,
                    bad.reason,
                )
            return self._count(malformed_name(bad.kind))
        try:
            with transaction(self._conn):
                outcome = self._store(incoming)
                IngestCounts(self._conn).add(outcome)
            return outcome
        except sqlite3.Error as exc:
            log.warning("fleet console: could not store a message on %s (%s)", topic[:200], exc)
            return FAILED

    def _count(self, name: str) -> str:
        try:
            with transaction(self._conn):
                IngestCounts(self._conn).add(name)
        except sqlite3.Error as exc:
            log.warning("fleet console: could not count %s (%s)", name, exc)
        return name

    def _store(self, incoming: Incoming) -> str:
        now = self._clock()
        message = incoming.message
        branches = BranchStore(self._conn)
        if isinstance(message, StateIn):
            branches.set_state(incoming.branch, message.state, incoming.raw, now)
        elif isinstance(message, HeartbeatIn):
            branches.set_heartbeat(incoming.branch, message.at, message.outbox, now)
            if message.acked_seq is not None:
                acked_seq_heard(self._conn, incoming.branch, message.acked_seq)
        elif isinstance(message, EventIn):
            branches.seen(incoming.branch, now)
            event = FleetEvent(
                msg_id=message.id,
                branch=incoming.branch,
                at=message.at,
                type=message.type,
                door=message.door,
                reason=message.reason,
                member=message.member,
                card_hint=message.card_hint,
                detail=message.detail,
                alert=is_alert(message.type, message.reason),
                closed_at=None,
                closed_by=None,
            )
            if message.seq is not None:
                seq_received(self._conn, incoming.branch, message.seq)
            if not FleetEventStore(self._conn).add(event, now):
                return DUPLICATE
        elif isinstance(message, AckIn):
            branches.seen(incoming.branch, now)
            if message.seq is not None:
                seq_received(self._conn, incoming.branch, message.seq)
            if message.command is None or not CommandStore(self._conn).acknowledge(
                message.command, incoming.branch, message.status, message.reason, now
            ):
                return UNKNOWN_ACK  # nothing new (a resend), or no command of this console
            if message.kind == "resend":
                resend_answered(
                    self._conn, incoming.branch, message.command, message.status, message.reason, now
                )
        return RECEIVED


def purge_old_events(conn: sqlite3.Connection, clock: Clock, keep_days: int) -> int:
    """The retention of the console's copy of the events: older than `keep_days` goes."""
    with transaction(conn):
        return FleetEventStore(conn).purge_before(clock() - timedelta(days=keep_days))
