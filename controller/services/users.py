"""Admin-API users: roles, argon2id passwords and bearer tokens, every change audited.

Roles: `manager` (schedule, members), `security` (events, door, footage), `admin` (users,
tokens, settings). Decision: `admin` implies the other two, so one admin account can
always repair everything. Tokens are random strings shown once; only their SHA-256 digest
is stored, so a copied database or backup holds no usable token.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller.domain.clock import Clock
from controller.domain.events import Event, EventType
from controller.domain.roles import Role
from controller.domain.text import text_problem
from controller.services.login_throttle import LoginThrottle
from controller.services.passwords import Passwords, PasswordsBusy
from controller.store.db import transaction
from controller.store.events import EventLog
from controller.store.sessions import SessionStore
from controller.store.users import ApiToken, User, UserStore

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds the work per login
MAX_LABEL_LENGTH = 64
TOKEN_PREFIX = "opd_"  # makes a leaked token easy to spot in logs and secret scanners
LOGIN_LABEL = "login"
# What a refused sign-in records instead of a username that does not exist: what was typed
# may be a password typed into the wrong box, and logs and events are kept for 90 days.
UNKNOWN_USER = "(unknown user)"
DEFAULT_LOGIN_TTL = timedelta(hours=12)


class UserError(Exception):
    """A user or token change that cannot be made (name taken, last admin...)."""


class UnknownUser(UserError):
    """No user by that name."""


class UnknownToken(UserError):
    """No token with that id."""


class UserInputError(ValueError):
    """A username, password or role list that breaks the rules; the message says which."""


def effective_roles(roles: Iterable[str]) -> frozenset[Role]:
    """What the stored roles allow: admin implies manager and security."""
    held = {Role(role) for role in roles if role in Role.__members__.values()}
    return frozenset(Role) if Role.ADMIN in held else frozenset(held)


def validate_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise UserInputError(
            "username must be 2-64 characters: a-z, 0-9, '.', '_', '@', '-', starting with a letter or digit"
        )
    return username


def validate_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserInputError(f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return password


def validate_label(label: str) -> str:
    """A token label: 1-64 characters of plain text (no control, bidi or BOM characters)."""
    if not 1 <= len(label) <= MAX_LABEL_LENGTH:
        raise UserInputError(f"label must be 1 to {MAX_LABEL_LENGTH} characters")
    problem = text_problem(label)
    if problem is not None:
        raise UserInputError(f"label: {problem}")
    return label


def validate_roles(roles: Iterable[str]) -> frozenset[Role]:
    given = list(roles)
    unknown = sorted({str(role) for role in given} - {role.value for role in Role})
    if unknown:
        raise UserInputError(f"unknown role(s) {', '.join(unknown)} (known: manager, security, admin)")
    if not given:
        raise UserInputError("give at least one role")
    return frozenset(Role(role) for role in given)


def token_digest(token: str) -> bytes:
    """What is stored for a token: a fast hash is enough for 256 random bits."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `secret` is returned to the caller once and never stored."""

    secret: str = field(repr=False)
    token: ApiToken


class UserAdmin:
    """User and token changes by a named actor (`api:alice`, `cli:bob`), each audited."""

    def __init__(
        self,
        store: UserStore,
        events: EventLog,
        clock: Clock,
        door: str,
        passwords: Passwords,
        conn: sqlite3.Connection,
    ) -> None:
        self._store = store
        self._events = events
        self._clock = clock
        self._door = door
        self._passwords = passwords
        self._conn = conn

    # --- users -----------------------------------------------------------------------
    def create(self, username: str, password: str, roles: Iterable[str], actor: str) -> User:
        validate_username(username)
        validate_password(password)
        wanted = validate_roles(roles)
        password_hash = self._passwords.hash(password)  # slow: outside the write transaction
        with transaction(self._conn):
            if self._store.get(username) is not None:
                raise UserError(f"user {username} already exists")
            user = self._store.add(username, password_hash, wanted, self._clock())
            self._audit(actor, "user created", f"{username} roles={_names(wanted)}")
        return user

    def set_roles(self, username: str, roles: Iterable[str], actor: str) -> User:
        wanted = validate_roles(roles)
        with transaction(self._conn):
            user = self._require(username)
            if Role.ADMIN not in wanted:
                self._keep_an_admin(user)
            self._store.set_roles(username, wanted)
            self._audit(actor, "user roles set", f"{username} roles={_names(wanted)}")
        return self._require(username)

    def reset_password(self, username: str, password: str, actor: str) -> User:
        """New password; every web session and API token of the user ends (a reset often
        follows a leak, and a stolen session or token must not outlive it). The one use case
        behind the API, the Users page and the CLI."""
        validate_password(password)
        password_hash = self._passwords.hash(password)
        with transaction(self._conn):
            user = self._require(username)
            self._store.set_password_hash(username, password_hash)
            ended = self._sign_out_everywhere(user)
            self._audit(actor, "user password reset", f"{username} {ended}")
        return self._require(username)

    def set_disabled(self, username: str, disabled: bool, actor: str) -> User:
        """Disabling ends every web session and API token of the user at once (and enabling
        again brings none of them back)."""
        with transaction(self._conn):
            user = self._require(username)
            if disabled:
                self._keep_an_admin(user)
            self._store.set_disabled(username, disabled)
            if disabled:
                self._audit(actor, "user disabled", f"{username} {self._sign_out_everywhere(user)}")
            else:
                self._audit(actor, "user enabled", username)
        return self._require(username)

    def _sign_out_everywhere(self, user: User) -> str:
        """End the user's web sessions and API tokens; what ended, for the audit event."""
        sessions = SessionStore(self._conn).delete_for_user(user.id)
        tokens = self._store.revoke_all_for(user.id)
        return f"sessions_ended={sessions} tokens_ended={tokens}"

    # --- tokens ----------------------------------------------------------------------
    def create_token(self, username: str, label: str, actor: str, ttl: timedelta | None) -> IssuedToken:
        """A new token for `username`; the label is shown to admins, so it is plain text."""
        validate_label(label)
        with transaction(self._conn):
            user = self._require(username)
            issued = self._issue(user, label, ttl)
            self._audit(
                actor,
                "token created",
                f"id={issued.token.id} user={username} "
                f"label={label} expires={_when(issued.token.expires_at)}",
            )
        return issued

    def revoke_token(self, token_id: int, actor: str) -> ApiToken:
        with transaction(self._conn):
            token = self._store.token(token_id)
            if token is None or not self._store.revoke(token_id):
                raise UnknownToken(f"no token with id {token_id}")
            self._audit(actor, "token revoked", f"id={token_id} user={token.username} label={token.label}")
        return token

    def check_sign_in(
        self, username: str, password: str, address: str, throttle: LoginThrottle, via: str
    ) -> User | None:
        """The enabled user for a right password, else None: the one password check of the API
        login and the sign-in page. Raises SignInPaused while `throttle` holds this username or
        client address; the password is then not checked at all. The attempt is counted before
        the (slow) check and given back when it is right, so concurrent guesses cannot all
        pass the limit."""
        now = self._clock()
        reservation = throttle.reserve(username, address, now)
        user = self._store.get(username)
        # Only an existing name is written down: what was typed may be a password.
        shown = user.username if user is not None else UNKNOWN_USER
        try:
            if user is None or user.disabled:
                self._passwords.burn(password)  # same time as a real check: names can't be probed
                user = None
            elif not self._passwords.verify(user.password_hash, password):
                user = None
        except PasswordsBusy:
            throttle.cancel(reservation)  # nothing was checked, so nothing counts
            raise
        throttle.settle(reservation, right=user is not None)
        if user is None:
            log.warning("refused %s sign-in for %r", via, shown)
            if reservation.pause_if_wrong is not None:
                self._events.record(
                    Event(
                        type=EventType.SIGN_IN_PAUSED,
                        at=now,
                        door=self._door,
                        reason=via,
                        actor=f"{via}:{shown}",
                        detail=f"address={address} until={_when(reservation.pause_if_wrong)}",
                    )
                )
            return None
        if self._passwords.needs_rehash(user.password_hash):
            self._rehash(user, password)
        return user

    def _rehash(self, user: User, password: str) -> None:
        """Store the right password again with today's parameters (older hashes used
        argon2-cffi's 64 MiB default). Skipped when busy: the next sign-in does it."""
        try:
            new_hash = self._passwords.hash(password)
        except PasswordsBusy:
            log.info("password of %s not rehashed this time: hash slots busy", user.username)
            return
        with transaction(self._conn):  # not over a reset made meanwhile
            self._store.replace_password_hash(user.username, user.password_hash, new_hash)

    def login(
        self, username: str, password: str, address: str, throttle: LoginThrottle, ttl: timedelta
    ) -> IssuedToken | None:
        """A short-lived API token for a right password of an enabled user, else None."""
        user = self.check_sign_in(username, password, address, throttle, via="api")
        if user is None:
            return None
        with transaction(self._conn):
            self._store.purge_expired(self._clock())
            issued = self._issue(user, LOGIN_LABEL, ttl)
            self._audit(
                f"api:{username}",
                "login token issued",
                f"id={issued.token.id} expires={_when(issued.token.expires_at)}",
            )
        return issued

    def authenticate(self, secret: str) -> User | None:
        """The enabled user a bearer token belongs to, or None (unknown, expired, disabled)."""
        found = self._store.owner_of(token_digest(secret), self._clock())
        return found[0] if found else None

    # --- helpers ---------------------------------------------------------------------
    def _issue(self, user: User, label: str, ttl: timedelta | None) -> IssuedToken:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        token = self._store.add_token(user.id, token_digest(secret), label, now, now + ttl if ttl else None)
        return IssuedToken(secret, token)

    def _require(self, username: str) -> User:
        user = self._store.get(username)
        if user is None:
            raise UnknownUser(f"no user {username}")
        return user

    def _keep_an_admin(self, user: User) -> None:
        if self._store.enabled_admins() == [user.username]:
            raise UserError(f"{user.username} is the last enabled admin; make another admin first")

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


def _names(roles: Iterable[str]) -> str:
    return ",".join(sorted(str(role) for role in roles))


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "never"
