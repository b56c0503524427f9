"""Opening the console's database: the branch's Database (WAL, foreign keys, one transaction per
migration, clear errors for an unusable file) with the console's own migrations."""

from __future__ import annotations

from pathlib import Path

from controller.store.db import Database
from fleet_console.store.migrations import CONSOLE_MIGRATIONS

DB_FILE = "fleet.db"


def open_console_db(data_dir: Path) -> Database:
    return Database(Path(data_dir) / DB_FILE, CONSOLE_MIGRATIONS)
