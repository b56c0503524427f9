"""Admin changes to the member list, each recorded as an audit event naming who made it.

The CLI and the API both call these, so a change is audited the same way whoever makes it.

Every way a member joins the list comes through here (the nightly import, a manager's add on
the API or the CLI, the fleet's `members` command), so this is where a patron on the fleet's
shared block list is blocked on joining (issue 17: a member blocked for lending their card at
one branch must not walk into another they join later), in the transaction that adds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

from controller.domain.clock import Clock, local_date
from controller.domain.events import Event, EventType
from controller.domain.members import MemberRow
from controller.services.member_import import (
    MemberSource,
    RowProblems,
    batches,
    kept_fields,
    read_member_csv,
    refuse_staff_cards,
    refuse_staged,
)
from controller.store.db import transaction
from controller.store.events import EventLog
from controller.store.fleet_commands import FleetApplied, FleetBlockList, ListedBlock
from controller.store.member_list import ImportCounts
from controller.store.members import MemberStore

Progress = Callable[[int], None]


class MemberAdmin:
    """Member-list changes by a named actor (`cli:alice`, `api:bob`)."""

    def __init__(self, members: MemberStore, events: EventLog, clock: Clock, door: str) -> None:
        if events.connection is not members.connection:  # else the audit waits on the change
            raise ValueError(
                "MemberAdmin needs the member store and the event log on one "
                "connection: a change and its audit event are one transaction"
            )
        self._members = members
        self._events = events
        self._clock = clock
        self._door = door

    def import_csv(
        self,
        data: MemberSource,
        actor: str,
        progress: Progress | None = None,
        dry_run: bool = False,
    ) -> ImportCounts:
        """Replace the list from an export (its bytes, or a binary file read as a stream);
        ImportRejected (nothing changed) on any bad row.

        With dry_run the counts are what an import would do, and nothing is changed.
        `progress` is told how many rows were read, batch by batch. A file without a
        guardian_consent or more_time column leaves those flags as stored (KEPT_WHEN_ABSENT), and
        one with no block column leaves every block as stored (kept_fields).
        """
        problems = RowProblems()
        header: set[str] = set()
        rows = read_member_csv(data, local_date(self._clock()), problems, header)
        return self._replace(rows, problems, actor, progress, dry_run, header)

    def replace_list(
        self,
        numbered: Iterable[tuple[int, MemberRow]],
        actor: str,
        progress: Progress | None = None,
        dry_run: bool = False,
    ) -> ImportCounts:
        """Make the stored list match already-validated (line, row) pairs, atomically;
        ImportRejected if a patron id or card is listed twice or kept by a staff entry.
        Every field is the rows' word (nothing is kept from the stored entries but PINs)."""
        return self._replace(numbered, RowProblems(), actor, progress, dry_run, None)

    def _replace(
        self,
        numbered: Iterable[tuple[int, MemberRow]],
        problems: RowProblems,
        actor: str,
        progress: Progress | None,
        dry_run: bool,
        header: set[str] | None,
    ) -> ImportCounts:
        """Stage the rows batch by batch and swap them in, all inside one transaction: the
        door keeps reading the old list until the commit, and a refusal changes nothing.
        `header`: the file's columns (filled as it is read), None when the rows say all."""
        with self._members.list_import(self._clock()) as staged:
            for batch in batches(numbered):
                staged.add(batch, kept_fields(header) if header is not None else ())
                if progress:
                    progress(len(batch))
            refuse_staged(problems, *staged.duplicates(problems.limit))
            refuse_staff_cards(*staged.staff_cards(problems.limit))
            counts = staged.apply(commit=not dry_run)
            if dry_run:
                return counts
            self._audit(
                actor,
                "members imported",
                f"added={counts.added} updated={counts.updated} "
                f"unchanged={counts.unchanged} removed={counts.removed}",
            )
            fleet = FleetApplied(self._members.connection)
            shared = fleet.block_list()
            if shared is not None:
                listed = shared.in_force_on(local_date(self._clock()))
                # Those the import added, and those whose fleet block a block column lifted.
                joined = staged.new_among(listed) | (fleet.lifted_fleet_blocks() & listed.keys())
                for patron_id in sorted(fleet.not_blocked(joined)):
                    self._fleet_block(patron_id, shared, listed[patron_id])
        return counts

    # Each change and its audit event are one transaction (controller.store's rule): no
    # change without its audit line, and no audit line for a change that did not happen.
    def add(self, row: MemberRow, actor: str) -> None:
        """Add one entry. A patron on the fleet's shared block list is blocked as the list
        says, at once, unless the row blocks them itself (the branch's own word stands)."""
        with transaction(self._members.connection):
            self._members.add(row, self._clock())
            self._audit(actor, "member added", row.patron_id)
            found = (
                None if row.entry_blocked else FleetApplied(self._members.connection).listed(row.patron_id)
            )
            if found is not None and found[1].in_force_on(local_date(self._clock())):
                self._fleet_block(row.patron_id, *found)

    def _fleet_block(self, patron_id: str, shared: FleetBlockList, block: ListedBlock) -> None:
        """Block a patron who joined while on the shared list, as its blocks command would
        have: marked as the fleet's (the next list may lift it; a manager's unblock wins) and
        audited naming the list's version and command, whose own audit line names the sender.
        Inside the caller's transaction: the entry never stands unblocked."""
        self._members.set_blocked(patron_id, True, block.until, self._clock(), block.note)
        FleetApplied(self._members.connection).mark_fleet_block(patron_id)
        self._audit(
            f"fleet:blocks v{shared.version}",
            "member blocked",
            f"{patron_id} until={block.until or 'unblocked'} note={'yes' if block.note else 'no'} "
            f"on joining: fleet blocks version {shared.version} id {shared.command_id}",
        )

    def remove(self, patron_id: str, actor: str) -> None:
        with transaction(self._members.connection):
            self._members.remove(patron_id)
            self._audit(actor, "member removed", patron_id)

    def block(self, patron_id: str, actor: str, until: date | None = None, note: str | None = None) -> None:
        """Block entry until a day (or until unblocked), with the manager's note on why. The
        audit line says whether there is a note, not its words: they may be about a person."""
        with transaction(self._members.connection):
            self._members.set_blocked(patron_id, True, until, self._clock(), note)
            self._audit(
                actor,
                "member blocked",
                f"{patron_id} until={until or 'unblocked'} note={'yes' if note else 'no'}",
            )

    def set_flags(
        self,
        patron_id: str,
        actor: str,
        *,
        guardian_consent: bool | None = None,
        more_time: bool | None = None,
    ) -> None:
        """Set a guardian's consent and/or "more time" (None: unchanged); audited by name."""
        said = {"guardian_consent": guardian_consent, "more_time": more_time}
        with transaction(self._members.connection):
            self._members.set_flags(
                patron_id, self._clock(), guardian_consent=guardian_consent, more_time=more_time
            )
            self._audit(
                actor,
                "member flags set",
                " ".join(
                    [
                        patron_id,
                        *(
                            f"{name}={'yes' if value else 'no'}"
                            for name, value in said.items()
                            if value is not None
                        ),
                    ]
                ),
            )

    def unblock(self, patron_id: str, actor: str) -> None:
        with transaction(self._members.connection):
            self._members.set_blocked(patron_id, False, None, self._clock())
            self._audit(actor, "member unblocked", patron_id)

    def set_pin(self, patron_id: str, pin: str, actor: str) -> None:
        with transaction(self._members.connection):
            self._members.set_pin(patron_id, pin, self._clock())
            self._audit(actor, "PIN set", patron_id)  # the PIN itself is never logged

    def _audit(self, actor: str, what: str, detail: str) -> None:
        self._events.record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=self._clock(),
                door=self._door,
                reason=what,
                actor=actor,
                detail=detail,
            )
        )


def default_valid_until(today: date) -> date:
    """A year from today: what `members add` uses when no end date is given."""
    return today + timedelta(days=365)
