"""PIN lockouts as the door sees them: counted in memory, stored write-behind.

Why in memory: counting a wrong PIN used to be a database write on the door thread, so a
member import holding the write lock made the keypad wait. The door now counts here and hands
the new count to `persist` (the EventWriter's queue in the service); the counts are loaded back
at start, so a restart does not lift a lockout.

Staff lift a lockout by setting a new PIN (MemberStore.set_pin deletes the stored count). This
process may not hear of that, so each count remembers the PIN salt it was counted against:
a member whose salt changed starts from zero.

Lockouts escalate, because a fixed lockout still lets a found card be guessed at: 5 wrong PINs
per 15 minutes is 480 guesses a day, a 4-digit PIN in about 10 days. Each further lockout of
the same member in a row doubles (15 min, 30 min, 1 h, ...) up to MAX_LOCKOUT (a day, or the
configured lockout if that is longer), so a guesser gets about 5 PINs a day once the run is
long. The run ends with a right PIN (or a new PIN from staff), and also after QUIET_RESET (a
day) without a lockout since the last one ended: a member who mistypes twice in a month should
not find a 30-minute lockout waiting, and a guesser gains nothing by waiting a day rather than
sitting out a lockout of at most a day. The run is stored with the count, so a restart keeps it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from controller.domain.members import Member
from controller.store.db import transaction
from controller.store.pin_failures import PinFailures, load_pin_failures, save_pin_failures

UNKNOWN_SALT = b"?"  # a count loaded at start: bound to the member's PIN at the next attempt
MAX_LOCKOUT = timedelta(days=1)  # the doubling stops here
QUIET_RESET = timedelta(days=1)  # this long after the last lockout ended, a run starts afresh


@dataclass
class _Count:
    failures: int  # wrong PINs since the last lockout
    locked_until: datetime | None  # the last lockout's end, kept once it has passed
    pin_salt: bytes | None
    lockouts: int = 0  # lockouts in a row
    # A count loaded at start: the stored lockouts it may meet in the member's row. Another
    # value means staff changed the row (a new PIN deletes it) and the count is dropped.
    anchors: frozenset[datetime | None] = frozenset()


class PinLockouts:
    """Not thread-safe: the door loop's thread alone counts (it alone decides)."""

    def __init__(
        self,
        max_wrong: int,
        lockout: timedelta,
        persist: Callable[[PinFailures], None],
        stored: dict[int, PinFailures] | None = None,
        spilled: dict[int, PinFailures] | None = None,
    ) -> None:
        """`stored`: the counts in the database; `spilled`: newer ones the last run could not
        write yet (the event writer's spill file, written back once its thread runs). A spilled
        count wins, and holds whether the member's row still has the stored lockout or already
        the written-back one."""
        self._max_wrong = max_wrong
        self._lockout = lockout
        self._max_lockout = max(lockout, MAX_LOCKOUT)
        self._persist = persist
        stored, spilled = stored or {}, spilled or {}
        self._counts = {
            member_id: _Count(
                row.failures, row.locked_until, UNKNOWN_SALT, row.lockouts, frozenset({row.locked_until})
            )
            for member_id, row in stored.items()
        }
        for member_id, row in spilled.items():
            before = stored[member_id].locked_until if member_id in stored else None
            self._counts[member_id] = _Count(
                row.failures,
                row.locked_until,
                UNKNOWN_SALT,
                row.lockouts,
                frozenset({before, row.locked_until}),
            )

    @classmethod
    def stored_in(cls, conn: sqlite3.Connection, max_wrong: int, lockout: timedelta) -> PinLockouts:
        """Counts loaded from, and written straight back to, one connection (CLI and tests)."""

        def persist(item: PinFailures) -> None:
            with transaction(conn):
                save_pin_failures(conn, item)

        return cls(max_wrong, lockout, persist, load_pin_failures(conn))

    def apply(self, member: Member) -> Member:
        """The member with the lockout the door knows of (newer than the stored one)."""
        count = self._current(member)
        return member if count is None else replace(member, locked_until=count.locked_until)

    def wrong_pin(self, member: Member, now: datetime) -> datetime | None:
        """Count one; at the limit the card locks until the returned time (and counting restarts).

        The lockout lasts the configured time doubled for each earlier lockout in this run."""
        count = self._current(member) or _Count(0, None, member.pin_salt)
        count.failures += 1
        if count.failures >= self._max_wrong:
            if count.locked_until is not None and now - count.locked_until >= QUIET_RESET:
                count.lockouts = 0  # a quiet day since the last lockout: a new run
            count.lockouts += 1
            count.failures, count.locked_until = 0, now + self._lockout_for(count.lockouts)
            locked = count.locked_until
        else:
            locked = None
        self._counts[member.id] = count
        self._persist(PinFailures(member.id, count.failures, count.locked_until, count.lockouts))
        return locked

    def in_a_row(self, member: Member) -> int:
        """How many lockouts this member's card has had in the current run (0: none)."""
        count = self._current(member)
        return count.lockouts if count is not None else 0

    def cleared(self, member: Member) -> None:
        """A right PIN ends a run of wrong ones, and the run of lockouts."""
        if self._counts.pop(member.id, None) is not None:
            self._persist(PinFailures(member.id, 0, None, 0))

    def _lockout_for(self, in_a_row: int) -> timedelta:
        doublings = min(in_a_row - 1, 32)  # 2**32 lockouts exceed any cap; bounds the number
        return min(self._lockout * 2**doublings, self._max_lockout)

    def _current(self, member: Member) -> _Count | None:
        count = self._counts.get(member.id)
        if count is None:
            return None
        if count.pin_salt == UNKNOWN_SALT:
            if member.locked_until not in count.anchors:  # the stored row changed since start
                del self._counts[member.id]
                return None
            count.pin_salt = member.pin_salt
        elif count.pin_salt != member.pin_salt:  # a new PIN from staff lifts the lockout
            del self._counts[member.id]
            return None
        return count
