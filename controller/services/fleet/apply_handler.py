"""One command payload from the broker, handled whole: verified, applied, recorded, audited, acked.

All in one transaction on the subscriber's connection: the change (through apply.py's use
cases), the kind's new last version (store/fleet_commands.py), the audit event naming the
console user, and the ack as a row of the fleet's outbox (the publisher sends it, QoS 1, and
keeps it through a broker outage like any event). A refusal is audited and acked the same
way; its audit event (`admin_change`, reason `fleet_command_refused`) is also an alert. Only
after the commit is the running door told (schedule, rules, unlock).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.domain.clock import Clock
from controller.domain.events import Event, EventType
from controller.services.fleet.apply import AfterCommit, CommandApplier, DoorHooks, fleet_actor, rules_of
from controller.services.fleet.commands import FORMAT, Command, CommandRefused, iso_z, verify
from controller.services.fleet.messages import Topics
from controller.services.runtime import Runtime
from controller.store.db import transaction
from controller.store.events import EventLog
from controller.store.fleet_commands import FleetApplied
from controller.store.fleet_outbox import FleetOutbox

log = logging.getLogger(__name__)

APPLIED_REASON = "fleet_command_applied"  # the admin_change's reason
REFUSED_REASON = "fleet_command_refused"  # the admin_change's reason, an alert too


@dataclass(frozen=True)
class Outcome:
    """What became of one payload; command, kind and version are claims when refused."""

    status: str  # applied | refused
    command: str | None
    kind: str | None
    version: int | None
    by: str | None
    reason: str | None = None

    @property
    def applied(self) -> bool:
        return self.status == "applied"


def ack_message(branch: str, outcome: Outcome, at: datetime) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "branch": branch,
        "command": outcome.command,
        "kind": outcome.kind,
        "version": outcome.version,
        "status": outcome.status,
        "reason": outcome.reason,
        "at": iso_z(at),
    }


class CommandHandler:
    """`handle(conn, payload)`: on the subscriber's thread, one payload at a time."""

    def __init__(
        self,
        runtime: Runtime,
        topics: Topics,
        public_key: Ed25519PublicKey | None,
        hooks: DoorHooks,
        clock: Clock,
    ) -> None:
        self._runtime = runtime
        self._topics = topics
        self._key = public_key
        self._hooks = hooks
        self._applier = CommandApplier(runtime, hooks)
        self._clock = clock

    def handle(self, conn: sqlite3.Connection, payload: bytes) -> Outcome:
        """Verify and apply (or refuse) with the audit line and the ack, in one transaction;
        a database error leaves nothing done and propagates (the message is not acked to the
        broker, which delivers it again)."""
        now = self._clock()
        after: list[AfterCommit] = []
        with transaction(conn):
            applied = FleetApplied(conn)
            command: Command | None = None
            try:
                command = verify(payload, self._key, self._topics.branch, applied.last_versions(), now)
                with transaction(conn):  # a savepoint: a refusal midway undoes the partial change
                    after = self._applier.apply(conn, command)
                    applied.record(command.kind, command.version, command.id, command.body, now)
                outcome = Outcome("applied", command.id, command.kind, command.version, command.by)
            except CommandRefused as refused:
                after = []
                # Who sent it is known only from a signed envelope; an unsigned claim is not a name.
                signed = command is not None or refused.signed
                claimed_by = _text(refused.claim("by"))
                outcome = Outcome(
                    "refused",
                    _text(refused.claim("id")) if command is None else command.id,
                    _text(refused.claim("kind")) if command is None else command.kind,
                    _number(refused.claim("version")) if command is None else command.version,
                    (command.by if command is not None else claimed_by) if signed else "unverified",
                    refused.reason,
                )
            self._audit(conn, outcome, now)
            FleetOutbox(conn).add(self._topics.acks, ack_message(self._topics.branch, outcome, now), now)
        if outcome.applied:
            log.info(
                "fleet command %s (%s version %s) applied", outcome.command, outcome.kind, outcome.version
            )
        else:
            log.warning("fleet command %s refused: %s", outcome.command, outcome.reason)
        for call in after:
            try:
                call()
            except Exception:  # stored and acked; the door takes it at its next start
                log.exception(
                    "fleet command %s applied, but the running door could not be told", outcome.command
                )
        return outcome

    def restore(self, conn: sqlite3.Connection) -> None:
        """At start: the rules the fleet last sent, which the config file's [eligibility]
        does not know, are the door's again."""
        body = FleetApplied(conn).body_of("rules")
        changed = self._hooks.rules_changed
        if body is None or changed is None:
            return
        try:
            changed(rules_of(body))
        except CommandRefused as refused:  # stored by an older version that read them otherwise
            log.warning("the fleet's stored rules no longer apply: %s", refused.reason)

    def _audit(self, conn: sqlite3.Connection, outcome: Outcome, now: datetime) -> None:
        what = f"{outcome.kind or '?'} version {outcome.version or '?'} id {outcome.command or '?'}"
        EventLog(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=now,
                door=self._runtime.settings.branch.door,
                reason=APPLIED_REASON if outcome.applied else REFUSED_REASON,
                actor=fleet_actor(outcome.by or "unknown"),
                detail=what if outcome.applied else f"{what}: {outcome.reason}"[:500],
            )
        )


def _text(value: object) -> str | None:
    return "".join(ch for ch in value if ch.isprintable())[:64] if isinstance(value, str) else None


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
