"""SQLite storage: one file under the data directory, WAL, versioned migrations.

The conventions every store here follows:

- **SQL lives here and nowhere else.** The rest of the controller asks a store's named method
  (`EventLog.get`, `EventLog.count`, `UserStore.get_by_id`, `schema_version`...);
  tests/test_store_rules.py fails on SQL text or `execute(` outside this package.
- **Times and days go through `controller.store.codec`**: moments stored as UTC milliseconds
  since the epoch and read back as aware UTC datetimes, days as ISO text.
- **The caller owns the transaction.** Connections are in autocommit mode (isolation_level
  None, so `with conn:` begins nothing): one statement is atomic on its own. Whoever needs
  several statements to be one change wraps them in `store.db.transaction(conn)`: a service
  use case (a change together with its audit event), the door's event writer (one batch per
  transaction, so each write lock is short), a store method whose own statements belong
  together (`MemberStore.add`: the member and its cards). The outermost `transaction()` is the
  transaction: it commits when its block ends and rolls everything back on an exception; one
  opened inside it is a savepoint, so a store never commits what its caller began. Store
  methods never run BEGIN, COMMIT or ROLLBACK themselves, with one exception:
  `MemberStore.list_import()` is the whole-list import's own transaction (it commits only
  after `ListImport.apply(commit=True)`, so a preview or a refused file rolls back), and is
  entered outside any other.
- **Write locks stay short**: slow work that is not part of the change (password hashing,
  footage files) happens before `transaction()`, not inside it.
"""

from controller.store.db import SCHEMA_VERSION, Database

__all__ = ["Database", "SCHEMA_VERSION"]
