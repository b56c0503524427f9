"""PIN lockouts as the door sees them: counted in memory, stored write-behind.

Why in memory: counting a wrong PIN used to be a database write on the door thread, so a
member import holding the write lock made the keypad wait. The door now counts here and hands
the new count to `persist` (the EventWriter's queue in the service); the counts are loaded back
at start, so a restart does not lift a lockout.

Staff lift a lockout by setting a new PIN (MemberStore.set_pin deletes the stored count). This
process may not hear of that, so each count remembers the PIN salt it was counted against:
a member whose salt changed starts from zero.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from controller.event_writer import PinFailures
from controller.members import Member
from controller.store.db import transaction
from controller.store.pin_failures import load_pin_failures, save_pin_failures

UNKNOWN_SALT = b"?"  # a count loaded at start: bound to the member's PIN at the next attempt


@dataclass
class _Count:
    failures: int
    locked_until: datetime | None
    pin_salt: bytes | None


class PinLockouts:
    """Not thread-safe: the door loop's thread alone counts (it alone decides)."""

    def __init__(self, max_wrong: int, lockout: timedelta, persist: Callable[[PinFailures], None],
                 stored: dict[int, tuple[int, datetime | None]] | None = None) -> None:
        self._max_wrong = max_wrong
        self._lockout = lockout
        self._persist = persist
        self._counts = {member_id: _Count(failures, until, UNKNOWN_SALT)
                        for member_id, (failures, until) in (stored or {}).items()}

    @classmethod
    def stored_in(cls, conn: sqlite3.Connection, max_wrong: int, lockout: timedelta) -> "PinLockouts":
        """Counts loaded from, and written straight back to, one connection (CLI and tests)."""
        def persist(item: PinFailures) -> None:
            with transaction(conn):
                save_pin_failures(conn, item.member_id, item.failures, item.locked_until)
        return cls(max_wrong, lockout, persist, load_pin_failures(conn))

    def apply(self, member: Member) -> Member:
        """The member with the lockout the door knows of (newer than the stored one)."""
        count = self._current(member)
        return member if count is None else replace(member, locked_until=count.locked_until)

    def wrong_pin(self, member: Member, now: datetime) -> datetime | None:
        """Count one; at the limit the card locks until the returned time (and counting restarts)."""
        count = self._current(member) or _Count(0, None, member.pin_salt)
        count.failures += 1
        if count.failures >= self._max_wrong:
            count.failures, count.locked_until = 0, now + self._lockout
            locked = count.locked_until
        else:
            locked = None
        self._counts[member.id] = count
        self._persist(PinFailures(member.id, count.failures, count.locked_until))
        return locked

    def cleared(self, member: Member) -> None:
        """A right PIN ends a run of wrong ones."""
        if self._counts.pop(member.id, None) is not None:
            self._persist(PinFailures(member.id, 0, None))

    def _current(self, member: Member) -> _Count | None:
        count = self._counts.get(member.id)
        if count is None:
            return None
        if count.pin_salt == UNKNOWN_SALT:
            if count.locked_until != member.locked_until:  # the stored row changed since start
                del self._counts[member.id]
                return None
            count.pin_salt = member.pin_salt
        elif count.pin_salt != member.pin_salt:  # a new PIN from staff lifts the lockout
            del self._counts[member.id]
            return None
        return count
