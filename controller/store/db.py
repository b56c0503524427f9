"""Opening the database: WAL mode, foreign keys on, schema migrated to the newest version."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from controller.store.migrations import MIGRATIONS

SCHEMA_VERSION = len(MIGRATIONS)


class DatabaseError(Exception):
    """The database file cannot be used (newer schema than this program, unreadable...)."""


class Database:
    """One SQLite file; hands out configured connections (one per thread or request)."""

    def __init__(self, path: Path, migrations: list[str] = MIGRATIONS) -> None:
        self.path = Path(path)
        self._migrations = migrations
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            self._migrate(conn)

    def connect(self) -> sqlite3.Connection:
        """A new connection; autocommit off is avoided: use `transaction()` for writes."""
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def schema_version(self) -> int:
        with self.connect() as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

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
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception: all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
