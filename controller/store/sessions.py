"""Browser sessions of the web pages in SQLite (table `web_sessions`), keyed by a cookie digest.

The cookie carries a random secret; only its SHA-256 digest is stored, so a copied database
holds no usable session. Expiry rules (idle time, absolute end) live in controller.web.sessions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from controller.store.codec import from_ms, to_ms
from controller.store.users import User, UserStore


@dataclass(frozen=True)
class SessionRow:
    """One stored session; `csrf_token` goes into every form the session is shown."""

    id: int
    user_id: int
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:  # keep the CSRF token out of logs
        return f"SessionRow(id={self.id}, user_id={self.user_id}, expires_at={self.expires_at})"


def _row(row: sqlite3.Row) -> SessionRow:
    return SessionRow(
        id=row["id"],
        user_id=row["user_id"],
        csrf_token=row["csrf_token"],
        created_at=from_ms(row["created_ms"]),
        last_seen_at=from_ms(row["last_seen_ms"]),
        expires_at=from_ms(row["expires_ms"]),
    )


class SessionStore:
    """Reads and writes session rows; one statement each (the caller owns any transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, digest: bytes, user_id: int, csrf_token: str, now: datetime, expires_at: datetime) -> None:
        self._conn.execute(
            "INSERT INTO web_sessions (digest, user_id, csrf_token, created_ms, last_seen_ms, "
            "expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (digest, user_id, csrf_token, to_ms(now), to_ms(now), to_ms(expires_at)),
        )

    def find(self, digest: bytes) -> tuple[SessionRow, User] | None:
        """The session with this digest and its user (enabled or not), or None."""
        row = self._conn.execute("SELECT * FROM web_sessions WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            return None
        session = _row(row)
        user = UserStore(self._conn).get_by_id(session.user_id)
        return (session, user) if user else None

    def touch(self, session_id: int, now: datetime) -> None:
        self._conn.execute("UPDATE web_sessions SET last_seen_ms = ? WHERE id = ?", (to_ms(now), session_id))

    def delete(self, session_id: int) -> None:
        self._conn.execute("DELETE FROM web_sessions WHERE id = ?", (session_id,))

    def delete_for_user(self, user_id: int) -> int:
        return self._conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user_id,)).rowcount

    def purge_expired(self, now: datetime, idle_before: datetime) -> int:
        """Drop sessions past their absolute end or idle since before `idle_before`."""
        return self._conn.execute(
            "DELETE FROM web_sessions WHERE expires_ms <= ? OR last_seen_ms < ?",
            (to_ms(now), to_ms(idle_before)),
        ).rowcount
