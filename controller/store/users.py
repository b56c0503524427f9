"""Admin users and their API tokens in SQLite (tables `users` and `api_tokens`).

Only hashes are stored: an argon2id string per user, a SHA-256 digest per token. Rules
(roles, the last admin, password strength) live in controller.services.users, not here.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from controller.store.codec import from_ms, from_ms_or_none, to_ms, to_ms_or_none
from controller.store.db import inserted_id

# Don't write last_used on every request: once a minute is precise enough for an audit.
TOKEN_TOUCH_INTERVAL_MS = 60_000


@dataclass(frozen=True)
class User:
    """An admin-API account; `roles` holds the role names exactly as stored."""

    id: int
    username: str
    roles: frozenset[str]
    disabled: bool
    created_at: datetime
    password_hash: str = ""  # argon2id string; never shown, needed only to verify

    def __repr__(self) -> str:  # keep the hash out of logs and tracebacks
        return (
            f"User(id={self.id}, username={self.username!r}, roles={sorted(self.roles)}, "
            f"disabled={self.disabled})"
        )


@dataclass(frozen=True)
class ApiToken:
    """A token's public facts; the secret itself is never stored."""

    id: int
    username: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


def _roles_text(roles: Iterable[str]) -> str:
    return ",".join(sorted({str(role) for role in roles}))


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        roles=frozenset(filter(None, row["roles"].split(","))),
        disabled=bool(row["disabled"]),
        created_at=from_ms(row["created_ms"]),
        password_hash=row["password_hash"],
    )


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        username=row["username"],
        label=row["label"],
        created_at=from_ms(row["created_ms"]),
        expires_at=from_ms_or_none(row["expires_ms"]),
        last_used_at=from_ms_or_none(row["last_used_ms"]),
    )


_TOKEN_SELECT = (
    "SELECT t.id, u.username, t.label, t.created_ms, t.expires_ms, t.last_used_ms "
    "FROM api_tokens t JOIN users u ON u.id = t.user_id"
)


class UserStore:
    """Reads and writes users and tokens; one statement per change (the caller owns any
    transaction: see controller.store)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- users -----------------------------------------------------------------------
    def get(self, username: str) -> User | None:
        row = self._conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return _user(row) if row else None

    def get_by_id(self, user_id: int) -> User | None:
        row = self._conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return _user(row) if row else None

    def count(self) -> int:
        """How many users there are, enabled or not."""
        return self._conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]

    def list(self) -> list[User]:
        return [_user(row) for row in self._conn.execute("SELECT * FROM users ORDER BY username")]

    def add(self, username: str, password_hash: str, roles: Iterable[str], now: datetime) -> User:
        """Insert a user; sqlite3.IntegrityError when the name is taken."""
        self._conn.execute(
            "INSERT INTO users (username, password_hash, roles, disabled, created_ms) VALUES (?, ?, ?, 0, ?)",
            (username, password_hash, _roles_text(roles), to_ms(now)),
        )
        user = self.get(username)
        assert user is not None  # just inserted on this connection
        return user

    def set_roles(self, username: str, roles: Iterable[str]) -> None:
        self._conn.execute("UPDATE users SET roles = ? WHERE username = ?", (_roles_text(roles), username))

    def set_password_hash(self, username: str, password_hash: str) -> None:
        self._conn.execute("UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username))

    def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> bool:
        """Swap in `new_hash` only while `old_hash` is still stored (a rehash must not undo a
        password reset that happened meanwhile); whether it was swapped."""
        return bool(
            self._conn.execute(
                "UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?",
                (new_hash, username, old_hash),
            ).rowcount
        )

    def set_disabled(self, username: str, disabled: bool) -> None:
        self._conn.execute("UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username))

    def enabled_admins(self) -> builtins.list[str]:  # `list` here is the method above
        return [user.username for user in self.list() if "admin" in user.roles and not user.disabled]

    # --- tokens ----------------------------------------------------------------------
    def add_token(
        self, user_id: int, digest: bytes, label: str, now: datetime, expires_at: datetime | None
    ) -> ApiToken:
        token_id = inserted_id(
            self._conn.execute(
                "INSERT INTO api_tokens (user_id, token_hash, label, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (user_id, digest, label, to_ms(now), to_ms_or_none(expires_at)),
            )
        )
        token = self.token(token_id)
        assert token is not None  # just inserted on this connection
        return token

    def token(self, token_id: int) -> ApiToken | None:
        row = self._conn.execute(f"{_TOKEN_SELECT} WHERE t.id = ?", (token_id,)).fetchone()
        return _token(row) if row else None

    def tokens(self, username: str | None = None) -> builtins.list[ApiToken]:
        if username is None:
            rows = self._conn.execute(f"{_TOKEN_SELECT} ORDER BY t.id")
        else:
            rows = self._conn.execute(f"{_TOKEN_SELECT} WHERE u.username = ? ORDER BY t.id", (username,))
        return [_token(row) for row in rows]

    def owner_of(self, digest: bytes, now: datetime) -> tuple[User, ApiToken] | None:
        """The enabled user behind an unexpired token digest, and the token; marks it used."""
        row = self._conn.execute(
            "SELECT t.id AS token_id, t.last_used_ms, t.expires_ms, u.* FROM api_tokens t "
            "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (digest,),
        ).fetchone()
        now_ms = to_ms(now)
        if row is None or row["disabled"] or (row["expires_ms"] is not None and row["expires_ms"] <= now_ms):
            return None
        if row["last_used_ms"] is None or now_ms - row["last_used_ms"] >= TOKEN_TOUCH_INTERVAL_MS:
            self._conn.execute(
                "UPDATE api_tokens SET last_used_ms = ? WHERE id = ?", (now_ms, row["token_id"])
            )
        token = self.token(row["token_id"])
        assert token is not None  # the row above joined it
        return _user(row), token

    def revoke(self, token_id: int) -> bool:
        return bool(self._conn.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,)).rowcount)

    def revoke_all_for(self, user_id: int) -> int:
        """Delete every token of one user (password reset, disabled); how many there were."""
        return self._conn.execute("DELETE FROM api_tokens WHERE user_id = ?", (user_id,)).rowcount

    def purge_expired(self, now: datetime) -> int:
        return self._conn.execute(
            "DELETE FROM api_tokens WHERE expires_ms IS NOT NULL AND expires_ms <= ?", (to_ms(now),)
        ).rowcount
