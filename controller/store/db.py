"""Opening the database: WAL mode, foreign keys on, schema migrated to the newest version."""

from __future__ import annotations

import os
import pwd
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from controller.store.migrations import MIGRATIONS

SCHEMA_VERSION = len(MIGRATIONS)
BUSY_TIMEOUT_SECONDS = 10.0  # how long a statement waits for another writer, by default


class DatabaseError(Exception):
    """The database file cannot be used (newer schema than this program, unreadable...)."""


class DataDirError(DatabaseError):
    """The data directory cannot be made, is not a directory, or cannot be written."""


# SQLite's answers that mean "this file or directory cannot be used as it is", as opposed to a
# fault in the program; each becomes one line naming the path and what to do.
_UNUSABLE = (
    "SQLITE_CANTOPEN",
    "SQLITE_READONLY",
    "SQLITE_PERM",
    "SQLITE_AUTH",
    "SQLITE_IOERR",
    "SQLITE_NOTADB",
    "SQLITE_CORRUPT",
    "SQLITE_FULL",
)


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT just made (sqlite3 types lastrowid as Optional)."""
    if cursor.lastrowid is None:
        raise DatabaseError("the INSERT made no row")
    return cursor.lastrowid


class Database:
    """One SQLite file; hands out configured connections (one per thread or request)."""

    def __init__(self, path: Path, migrations: list[str] = MIGRATIONS) -> None:
        self.path = Path(path)
        self._migrations = migrations
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(
                f"{self.path.parent}: cannot create the data directory "
                f"({exc.strerror}); create it for {this_user()} (mode 700) or "
                "set storage.data_dir"
            ) from None
        try:
            with closing(self.connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                self._migrate(conn)
                self._check_writable(conn)
        except sqlite3.DatabaseError as exc:
            unusable = database_error(self.path, exc)
            if unusable is None:
                raise
            raise unusable from None

    def connect(self, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
        """A new connection in autocommit mode (see the package docstring: a change of several
        statements goes in `transaction()`). `busy_timeout` is how long a statement waits for
        another connection's write lock before `database is locked`; the door's event writer
        asks for a short one, because it retries on its own."""
        conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def schema_version(self) -> int:
        """The schema version of the file, on a connection of its own (closed again)."""
        with closing(self.connect()) as conn:
            return schema_version(conn)

    @staticmethod
    def _check_writable(conn: sqlite3.Connection) -> None:
        """Every user of the database writes (events at the least): find a read-only file now,
        not mid-command. A lock alone succeeds on a read-only file, so write the header's
        user_version back unchanged, and roll it back."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"PRAGMA user_version = {int(version)}")
        finally:
            conn.execute("ROLLBACK")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current > len(self._migrations):
            raise DatabaseError(
                f"{self.path}: schema version {current} is newer than this program "
                f"({len(self._migrations)}); upgrade openplus-door"
            )
        for version, script in enumerate(self._migrations[current:], start=current + 1):
            with transaction(conn):
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")


def database_error(path: Path, exc: sqlite3.Error) -> DatabaseError | None:
    """One line for an SQLite error that means the file or its directory cannot be used as it
    is (naming the path and what to do); None for any other error."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if not name.startswith(_UNUSABLE):
        return None
    user, where = this_user(), path.parent
    if path.is_dir():
        return DataDirError(f"{path} is a directory, not the database; move it away")
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return DatabaseError(
            f"{path}: not a database, or a damaged one ({exc}); restore it from the backup, with its pin.key"
        )
    if name.startswith("SQLITE_FULL"):
        return DatabaseError(f"{path}: the disk is full; make room on it")
    if name.startswith("SQLITE_READONLY"):
        return DataDirError(
            f"{path}: the database cannot be written ({exc}); {user} needs "
            f"write access to it, its -wal and -shm files and {where} "
            "(chown/chmod them, or run as their owner)"
        )
    return DataDirError(
        f"{path}: cannot open the database ({exc}); {user} needs read and "
        f"write access to {where} and the files in it (chown/chmod them, or run "
        "as their owner)"
    )


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version the database on `conn` is at (SQLite's user_version)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def passes_quick_check(conn: sqlite3.Connection) -> bool:
    """SQLite's own quick consistency check of the database on `conn` (a restore reads it)."""
    return bool(conn.execute("PRAGMA quick_check").fetchone()[0] == "ok")


def checkpoint_and_truncate(conn: sqlite3.Connection) -> bool:
    """Fold the WAL into the database and empty it; False when a reader kept it busy."""
    return not conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]


def this_user() -> str:
    """Who the permissions must allow, for the messages: a name where there is one."""
    try:
        return f"user {pwd.getpwuid(os.geteuid()).pw_name}"
    except KeyError:
        return f"uid {os.geteuid()}"


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit behind our back)."""
    parts, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            parts.append(buffer.strip())
            buffer = ""
    return [p for p in parts if p.strip("; \n")]


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All or nothing: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    Inside a transaction already open on `conn` it is a SAVEPOINT instead: an exception rolls
    back this block's statements and propagates, and only the outermost block commits. So a
    store method can make its own statements one change and still never commit what its caller
    began (the rule in the controller.store docstring).
    """
    if conn.in_transaction:
        conn.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # an error such as SQLITE_FULL may have ended it already
                conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
                conn.execute(f"RELEASE {_SAVEPOINT}")
            raise
        conn.execute(f"RELEASE {_SAVEPOINT}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # else SQLite rolled back already; keep the first error
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# Nested savepoints may share a name: ROLLBACK TO and RELEASE act on the innermost of that name.
_SAVEPOINT = "nested_change"
