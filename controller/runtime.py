"""Opening what every command and the service need: settings, database, PIN key, clock."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from controller.clock import Clock, utc_now
from controller.config import Settings
from controller.pins import PinHasher
from controller.store import Database
from controller.store.events import EventLog
from controller.store.members import MemberStore

DB_FILE = "openplus-door.db"
PIN_KEY_FILE = "pin.key"  # beside the database, never inside it; back them up separately


@dataclass
class Runtime:
    """The opened data directory; `connection()` gives each thread its own SQLite connection."""

    settings: Settings
    db: Database
    hasher: PinHasher
    clock: Clock = field(default=utc_now)

    @classmethod
    def open(cls, settings: Settings, clock: Clock = utc_now) -> "Runtime":
        data_dir: Path = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            db=Database(data_dir / DB_FILE),
            hasher=PinHasher.from_key_file(data_dir / PIN_KEY_FILE),
            clock=clock,
        )

    def connection(self) -> sqlite3.Connection:
        return self.db.connect()

    def members(self, conn: sqlite3.Connection) -> MemberStore:
        return MemberStore(conn, self.hasher)

    def events(self, conn: sqlite3.Connection) -> EventLog:
        return EventLog(conn)
