"""SQLite storage: one file under the data directory, WAL, versioned migrations."""
from controller.store.db import SCHEMA_VERSION, Database

__all__ = ["Database", "SCHEMA_VERSION"]
