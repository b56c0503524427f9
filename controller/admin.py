"""Admin changes to the member list, each recorded as an audit event naming who made it.

The CLI and the API both call these, so a change is audited the same way whoever makes it.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Callable

from controller.clock import Clock, local_date
from controller.events import Event, EventType
from controller.member_import import ImportRejected, RowError, parse_member_csv
from controller.members import MemberRow
from controller.store.events import EventLog
from controller.store.members import CardConflict, ImportCounts, MemberStore


class MemberAdmin:
    """Member-list changes by a named actor (`cli:alice`, `api:bob`)."""

    def __init__(self, members: MemberStore, events: EventLog, clock: Clock, door: str) -> None:
        self._members = members
        self._events = events
        self._clock = clock
        self._door = door

    def import_csv(
        self, data: bytes, actor: str, progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
    ) -> ImportCounts:
        """Replace the list from an export; ImportRejected (nothing changed) on any bad row.

        With dry_run the counts are what an import would do, and nothing is changed.
        """
        numbered = parse_member_csv(data, local_date(self._clock()))
        return self.replace_list(numbered, actor, progress, dry_run)

    def replace_list(
        self, numbered: list[tuple[int, MemberRow]], actor: str,
        progress: Callable[[int], None] | None = None, dry_run: bool = False,
    ) -> ImportCounts:
        """Make the stored list match already-validated (line, row) pairs, atomically."""
        now = self._clock()
        try:
            counts = self._members.replace_members(
                [row for _, row in numbered], now, progress, commit=not dry_run
            )
        except CardConflict as conflict:
            line_of = {card: line for line, row in numbered for card in row.cards}
            raise ImportRejected([
                RowError(line_of[card], f"card already belongs to staff entry {patron}")
                for card, patron in sorted(conflict.owners.items(), key=lambda i: line_of[i[0]])
            ]) from None
        if dry_run:
            return counts
        self._audit(actor, "members imported", f"added={counts.added} updated={counts.updated} "
                    f"unchanged={counts.unchanged} removed={counts.removed}")
        return counts

    def add(self, row: MemberRow, actor: str) -> None:
        self._members.add(row, self._clock())
        self._audit(actor, "member added", row.patron_id)

    def remove(self, patron_id: str, actor: str) -> None:
        self._members.remove(patron_id)
        self._audit(actor, "member removed", patron_id)

    def block(self, patron_id: str, actor: str, until: date | None = None) -> None:
        self._members.set_blocked(patron_id, True, until, self._clock())
        self._audit(actor, "member blocked", f"{patron_id} until={until or 'unblocked'}")

    def unblock(self, patron_id: str, actor: str) -> None:
        self._members.set_blocked(patron_id, False, None, self._clock())
        self._audit(actor, "member unblocked", patron_id)

    def set_pin(self, patron_id: str, pin: str, actor: str) -> None:
        self._members.set_pin(patron_id, pin, self._clock())
        self._audit(actor, "PIN set", patron_id)  # the PIN itself is never logged

    def _audit(self, actor: str, what: str, detail: str) -> None:
        self._events.record(Event(
            type=EventType.ADMIN_CHANGE, at=self._clock(), door=self._door, reason=what,
            actor=actor, detail=detail,
        ))


def default_valid_until(today: date) -> date:
    """A year from today: what `members add` uses when no end date is given."""
    return today + timedelta(days=365)
