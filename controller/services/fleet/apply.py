"""Applying a verified fleet command through the branch's own use cases, atomically.

Each kind goes through the service the pages and API use for the same change, so a change
from the fleet is checked, stored and audited exactly as a manager's at the branch would be:

- schedule: services/schedule.replace_schedule (the body is the schedule document the API takes)
- blocks:   MemberAdmin.block / unblock for the entries the fleet's shared list marks; a block
            the branch set itself is left alone, and a patron not on this branch's list skipped
- members:  rows as the member import reads them (read_member_csv's checks), then
            MemberAdmin.remove / add; an updated entry keeps the PIN it had at the branch
- rules:    the [eligibility] settings' shape; the LMS decision reads them from then on
- unlock:   the door's remote unlock, as POST /door/unlock does
- resend:   outbox rows with the seqs asked for put back in the queue (outbox.resend)

Everything that writes runs inside the caller's transaction (nested transactions are
savepoints), with the version record, the audit line and the ack: all or nothing. What the
running door must be told (a new schedule, new rules, an unlock) is returned as a list of
calls to make after the commit, so the door never acts on a change that was rolled back.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from controller.config.lms import EligibilitySettings
from controller.domain.clock import local_date
from controller.domain.eligibility import EligibilityRules
from controller.domain.members import MemberRow, block_note_problem
from controller.domain.schedule import Schedule, ScheduleInvalid, parse_schedule
from controller.services.fleet.commands import Command, CommandRefused
from controller.services.fleet.outbox import resend
from controller.services.member_import import ImportRejected, RowProblems, kept_fields, read_member_csv
from controller.services.runtime import Runtime
from controller.services.schedule import replace_schedule
from controller.services.use_cases import member_admin
from controller.store.fleet_commands import FleetApplied
from controller.store.members import MemberError

AfterCommit = Callable[[], None]


@dataclass(frozen=True)
class DoorHooks:
    """What the running door is told after a command's commit (from the door process)."""

    schedule_changed: Callable[[Schedule], None]
    unlock: Callable[[str], None]  # the actor named in the REMOTE_UNLOCK event
    # None: this branch has no library-system link, so no rules to change (refused, not acked)
    rules_changed: Callable[[EligibilityRules], None] | None


def fleet_actor(by: str) -> str:
    """Who the audit names: the console user, marked as coming through the fleet."""
    clean = "".join(ch for ch in by if ch.isprintable())[:64] or "unknown"
    return f"fleet:{clean}"


def rules_of(body: dict[str, Any]) -> EligibilityRules:
    """The rules a `rules` body gives; CommandRefused naming every problem."""
    try:
        return EligibilitySettings.model_validate(body).rules()
    except (ValidationError, ValueError) as exc:
        raise CommandRefused(f"rules body: {_first_lines(exc)}") from None


class CommandApplier:
    """Applies one verified command on `conn`; returns the calls for after the commit."""

    def __init__(self, runtime: Runtime, hooks: DoorHooks) -> None:
        self._runtime = runtime
        self._hooks = hooks

    @property
    def keep_sent_days(self) -> int:
        return self._runtime.settings.fleet.keep_sent_days

    def apply(self, conn: sqlite3.Connection, command: Command) -> list[AfterCommit]:
        actor = fleet_actor(command.by)
        try:
            return _KINDS[command.kind](self, conn, command, actor)
        except CommandRefused:
            raise
        except (MemberError, ImportRejected, ValueError) as exc:
            raise CommandRefused(f"{command.kind} not applied: {_first_lines(exc)}") from None

    def _schedule(self, conn: sqlite3.Connection, command: Command, actor: str) -> list[AfterCommit]:
        try:
            schedule = parse_schedule(command.body)
        except ScheduleInvalid as invalid:
            raise CommandRefused(
                "schedule body: " + "; ".join(str(problem) for problem in invalid.problems[:5])
            ) from None
        told: list[Schedule] = []
        replace_schedule(self._runtime, conn, schedule, actor, told.append)  # told after the commit
        return [lambda: self._hooks.schedule_changed(schedule)]

    def _blocks(self, conn: sqlite3.Connection, command: Command, actor: str) -> list[AfterCommit]:
        admin = member_admin(self._runtime, conn)
        store = FleetApplied(conn)
        members = self._runtime.members(conn)
        wanted: dict[str, tuple[date | None, str | None]] = {}
        for row in command.body["blocks"]:
            note = (row.get("reason") or "").strip() or None
            problem = block_note_problem(note) if note else None
            if problem:
                raise CommandRefused(f"blocks body: patron {row['patron']}: {problem}")
            until = date.fromisoformat(row["until"]) if row.get("until") else None
            wanted[row["patron"]] = (until, note)
        local, by_fleet = store.locally_blocked(wanted), store.fleet_blocked()
        for patron_id in sorted(by_fleet - set(wanted)):
            admin.unblock(patron_id, actor)
        for patron_id, (until, note) in wanted.items():
            member = members.get(patron_id)
            if member is None or patron_id in local:
                continue  # not a member here, or blocked by the branch itself: its word stands
            if patron_id in by_fleet and (member.blocked_until, member.block_note) == (until, note):
                continue  # as the list said before: no new audit line
            admin.block(patron_id, actor, until, note)
            store.mark_fleet_block(patron_id)
        return []

    def _members(self, conn: sqlite3.Connection, command: Command, actor: str) -> list[AfterCommit]:
        admin = member_admin(self._runtime, conn)
        members = self._runtime.members(conn)
        store = FleetApplied(conn)
        for patron_id in command.body.get("remove", []):
            if members.get(patron_id) is not None:
                admin.remove(patron_id, actor)
        header, rows = _member_rows(command.body.get("upsert", []), local_date(self._runtime.clock()))
        kept = kept_fields(header)  # what the rows do not say stays as stored, as in an import
        listed = store.fleet_blocked()
        for row in rows:
            old = members.get(row.patron_id)
            if old is not None:
                row = row._replace(**{field: getattr(old, field) for field in kept})
                admin.remove(row.patron_id, actor)
            admin.add(row, actor)
            if old is not None and row.pin is None:
                store.keep_pin(row.patron_id, old.pin_salt, old.pin_hash)
            if row.patron_id in listed and row.entry_blocked and "entry_blocked" in kept:
                store.mark_fleet_block(row.patron_id)  # still the list's block, not the branch's
        return []

    def _rules(self, conn: sqlite3.Connection, command: Command, actor: str) -> list[AfterCommit]:
        rules = rules_of(command.body)
        changed = self._hooks.rules_changed
        if changed is None:  # an "applied" would claim rules that decide nothing here
            raise CommandRefused(
                "rules: this branch has [lms] disabled; the rules judge the library system's answers"
            )
        return [lambda: changed(rules)]

    def _unlock(self, conn: sqlite3.Connection, command: Command, actor: str) -> list[AfterCommit]:
        return [lambda: self._hooks.unlock(actor)]


_KINDS: dict[str, Callable[[CommandApplier, sqlite3.Connection, Command, str], list[AfterCommit]]] = {
    "schedule": CommandApplier._schedule,
    "blocks": CommandApplier._blocks,
    "members": CommandApplier._members,
    "rules": CommandApplier._rules,
    "unlock": CommandApplier._unlock,
    "resend": lambda applier, conn, command, actor: resend(conn, command.body, applier.keep_sent_days),
}


def _member_rows(rows: list[dict[str, Any]], today: date) -> tuple[set[str], list[MemberRow]]:
    """The upsert rows' columns, and the rows checked by the member import's own rules
    (written as the CSV it reads: one rule for a file and for the fleet); ImportRejected
    naming the problems."""
    if not rows:
        return set(), []
    header: list[str] = []
    for row in rows:
        header += [column for column in row if column not in header]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
    problems = RowProblems()
    parsed = [row for _, row in read_member_csv(text.getvalue().encode(), today, problems)]
    problems.refuse()
    return set(header), parsed


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):  # cards: the import reads them split on |
        return "|".join(str(item) for item in value)
    return str(value)


def _first_lines(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(exc, ImportRejected) and isinstance(errors, list):
        return f"{exc}: " + "; ".join(str(error) for error in errors[:5])
    return " ".join(str(exc).split())[:400]
