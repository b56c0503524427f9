"""The console's database: its own SQLite file and migrations (controller.store.db.Database runs
them). Stores follow the branch's rule: one statement per change, the caller owns the transaction."""
