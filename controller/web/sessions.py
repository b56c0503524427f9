"""Signed-in browser sessions: a random cookie secret, a server-side row, idle and absolute expiry.

Decision: sessions live server-side (migration 5) rather than in a signed cookie, so signing
out, a disabled user or a password reset ends them at once, and no extra dependency is needed.
The cookie is HttpOnly and SameSite=Lax; it is Secure whenever the page was served over https
(plain http stays usable for the simulator on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response

from controller.domain.clock import Clock
from controller.services.users import Role, effective_roles
from controller.store.db import transaction
from controller.store.sessions import SessionRow, SessionStore
from controller.store.users import User

SESSION_COOKIE = "opd_session"
SESSION_IDLE = timedelta(minutes=30)  # a laptop left open at the desk signs itself out
SESSION_MAX = timedelta(hours=12)  # one working day, like the API's login tokens
TOUCH_EVERY = timedelta(minutes=1)  # don't write last_seen on every request


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: the signed-in user, their session and what their roles allow."""

    user: User
    session: SessionRow

    @property
    def roles(self) -> frozenset[Role]:
        return effective_roles(self.user.roles)

    @property
    def actor(self) -> str:
        """How audit events name changes made from the web pages."""
        return f"web:{self.user.username}"

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def may(self, role: Role) -> bool:
        return role in self.roles


class Sessions:
    """Starts, resolves and ends sessions on one connection, with the injected clock."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._store = SessionStore(conn)
        self._conn = conn
        self._clock = clock

    def start(self, user: User) -> str:
        """A new session for `user`; returns the cookie secret (never stored)."""
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        with transaction(self._conn):
            self._store.purge_expired(now, now - SESSION_IDLE)
            self._store.add(_digest(secret), user.id, secrets.token_urlsafe(32), now, now + SESSION_MAX)
        return secret

    def resolve(self, secret: str | None) -> Viewer | None:
        """The viewer behind a cookie, or None: unknown, idle too long, past its end, user disabled."""
        if not secret:
            return None
        found = self._store.find(_digest(secret))
        if found is None:
            return None
        session, user = found
        now = self._clock()
        if user.disabled or now >= session.expires_at or now - session.last_seen_at > SESSION_IDLE:
            self._store.delete(session.id)
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            self._store.touch(session.id, now)
        return Viewer(user, session)

    def end(self, secret: str | None) -> None:
        if secret:
            found = self._store.find(_digest(secret))
            if found is not None:
                self._store.delete(found[0].id)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(SESSION_MAX.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
