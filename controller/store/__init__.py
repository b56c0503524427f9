"""SQLite storage: one file under the data directory, WAL, versioned migrations."""
from controller.store.db import Database, SCHEMA_VERSION

__all__ = ["Database", "SCHEMA_VERSION"]
