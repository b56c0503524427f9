"""The named queries of a member's data request and of pseudonymisation (AVG/GDPR).

Why apart from members.py and events.py: these read across tables (a member, their cards,
lockouts, events, audit lines and clips) for one person, and rewrite event rows in place;
nothing else in the controller does either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from controller.domain.events import Event, EventType
from controller.store.codec import from_ms_or_none
from controller.store.events import EventFilter, EventLog

# Columns never handed out, even to the member: the PIN's salt and keyed hash are a secret of
# the controller (with pin.key they allow guessing the PIN offline), and the row id means nothing.
HIDDEN_MEMBER_COLUMNS = ("id", "pin_salt", "pin_hash")
MANY = 10_000_000  # "all of them" for a query that takes a limit
# Audit lines of member changes name the patron as the first word of their detail
# (services.members.MemberAdmin._audit): "P00001 until=... note=no".
_MEMBER_AUDIT_PREFIX = "member "
_MEMBER_AUDIT_REASONS = ("PIN set",)


def member_record(conn: sqlite3.Connection, patron_id: str) -> dict[str, Any] | None:
    """The member's row as stored (every column but the hidden ones; has_pin says whether a
    PIN is set), their cards in full and their wrong-PIN counts; None when not on the list."""
    row = conn.execute("SELECT * FROM members WHERE patron_id = ?", (patron_id,)).fetchone()
    if row is None:
        return None
    record = {key: row[key] for key in row.keys() if key not in HIDDEN_MEMBER_COLUMNS}
    record["has_pin"] = row["pin_hash"] is not None
    record["updated_ms"] = from_ms_or_none(row["updated_ms"])
    cards = [
        r[0] for r in conn.execute("SELECT card FROM cards WHERE member_id = ? ORDER BY card", (row["id"],))
    ]
    failures = conn.execute(
        "SELECT failures, locked_until_ms, lockouts FROM pin_failures WHERE member_id = ?", (row["id"],)
    ).fetchone()
    lockouts = (
        None
        if failures is None
        else {
            "wrong_pins": failures["failures"],
            "locked_until": from_ms_or_none(failures["locked_until_ms"]),
            "lockouts_in_a_row": failures["lockouts"],
        }
    )
    return {"member": record, "cards": cards, "pin_lockouts": lockouts}


def events_of(conn: sqlite3.Connection, member_ref: str) -> list[Event]:
    """Every event naming the member, oldest first."""
    return list(reversed(EventLog(conn).query(EventFilter(member_ref=member_ref), limit=MANY)))


def audit_lines_about(conn: sqlite3.Connection, patron_id: str) -> list[Event]:
    """Staff's audit lines of changes to this member (added, blocked, PIN set...), oldest first."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM events WHERE type = ? AND (detail = ? OR substr(detail, 1, ?) = ?) "
            "ORDER BY ts_ms, id",
            (EventType.ADMIN_CHANGE.value, patron_id, len(patron_id) + 1, patron_id + " "),
        )
    ]
    log = EventLog(conn)
    return [
        event
        for event in (log.get(event_id) for event_id in ids)
        if event is not None and is_member_audit(event.reason)
    ]


def clips_of(conn: sqlite3.Connection, event_ids: list[int]) -> list[sqlite3.Row]:
    """The clip rows of these events (recorded footage around them)."""
    rows: list[sqlite3.Row] = []
    for start in range(0, len(event_ids), 500):
        part = event_ids[start : start + 500]
        rows += conn.execute(
            f"SELECT * FROM event_clips WHERE event_id IN ({','.join('?' * len(part))}) ORDER BY start_ms",
            part,
        ).fetchall()
    return rows


def replace_member_ref(conn: sqlite3.Connection, patron_id: str, pseudonym: str) -> int:
    """Every event of the member names the pseudonym instead; how many."""
    return conn.execute(
        "UPDATE events SET member_ref = ? WHERE member_ref = ?", (pseudonym, patron_id)
    ).rowcount


def replace_in_audit_lines(conn: sqlite3.Connection, patron_id: str, pseudonym: str) -> int:
    """The member's audit lines name the pseudonym as their first word instead; how many."""
    done = 0
    for event in audit_lines_about(conn, patron_id):
        detail = pseudonym + (event.detail or "")[len(patron_id) :]
        done += conn.execute("UPDATE events SET detail = ? WHERE id = ?", (detail, event.id)).rowcount
    return done


def forget_lms_cards(conn: sqlite3.Connection, digests: list[bytes]) -> int:
    """The library system's cached PINs of these card digests go."""
    return sum(
        conn.execute("DELETE FROM lms_pin_cache WHERE card_digest = ?", (d,)).rowcount for d in digests
    )


def pseudonymise_before(
    conn: sqlite3.Connection, cutoff_ms: int, pseudonym: Callable[[str], str], prefix: str, batch: int
) -> int:
    """One batch: events before `cutoff_ms` whose member_ref is not yet a pseudonym (does not
    start with `prefix`) get `pseudonym(member_ref)`, and member audit lines their first word
    likewise; how many rows changed (0: nothing left). The caller commits per batch, so the
    door's event writer never waits long for the write lock."""
    conn.create_function("openplus_pseudonym", 1, pseudonym, deterministic=True)
    changed = conn.execute(
        "UPDATE events SET member_ref = openplus_pseudonym(member_ref) WHERE id IN ("
        "SELECT id FROM events WHERE ts_ms < ? AND member_ref IS NOT NULL "
        "AND substr(member_ref, 1, ?) != ? LIMIT ?)",
        (cutoff_ms, len(prefix), prefix, batch),
    ).rowcount
    rows = conn.execute(
        "SELECT id, reason, detail FROM events WHERE type = ? AND ts_ms < ? AND detail IS NOT NULL "
        "AND substr(detail, 1, ?) != ? AND (reason LIKE 'member %' OR reason IN ({})) LIMIT ?".format(
            ",".join("?" * len(_MEMBER_AUDIT_REASONS))
        ),
        (EventType.ADMIN_CHANGE.value, cutoff_ms, len(prefix), prefix, *_MEMBER_AUDIT_REASONS, batch),
    ).fetchall()
    for row in rows:
        first, _, rest = row["detail"].partition(" ")
        conn.execute(
            "UPDATE events SET detail = ? WHERE id = ?",
            (" ".join(filter(None, (pseudonym(first), rest))), row["id"]),
        )
    return changed + len(rows)


def is_member_audit(reason: str | None) -> bool:
    """Whether an ADMIN_CHANGE with this reason names a patron as its detail's first word."""
    return reason is not None and (reason.startswith(_MEMBER_AUDIT_PREFIX) or reason in _MEMBER_AUDIT_REASONS)
