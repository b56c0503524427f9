"""What a running console holds: settings, database, clock, the fleet key, passwords, the link."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.domain.clock import Clock, utc_now
from controller.services.fleet.commands import load_private_key
from controller.services.login_throttle import LoginThrottle
from controller.services.passwords import Passwords
from controller.services.users import UserAdmin
from controller.store.db import Database
from controller.store.events import EventLog
from controller.store.users import UserStore
from fleet_console.config import ConsoleSettings
from fleet_console.service.link import FleetLink
from fleet_console.store.db import open_console_db


@dataclass
class ConsoleRuntime:
    settings: ConsoleSettings
    db: Database
    clock: Clock
    key: Ed25519PrivateKey | None
    passwords: Passwords = field(default_factory=Passwords)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    link: FleetLink | None = None

    @classmethod
    def open(
        cls,
        settings: ConsoleSettings,
        data_dir: Path | None = None,
        clock: Clock = utc_now,
        passwords: Passwords | None = None,
    ) -> ConsoleRuntime:
        """The database opened (migrated) and the key loaded (KeyFileError when it is wrong)."""
        key_file = settings.console.key_file
        return cls(
            settings=settings,
            db=open_console_db(data_dir or settings.console.data_dir),
            clock=clock,
            key=load_private_key(key_file) if key_file else None,
            passwords=passwords or Passwords(),
        )

    def connection(self) -> sqlite3.Connection:
        return self.db.connect()

    def users(self, conn: sqlite3.Connection) -> UserAdmin:
        """The branch's user use cases on the console's own tables (same shapes)."""
        return UserAdmin(
            UserStore(conn), EventLog(conn), self.clock, self.settings.console.door_name, self.passwords, conn
        )

    def start_link(self) -> FleetLink:
        self.link = FleetLink(
            self.db, self.settings.broker, self.clock, self.settings.console.keep_events_days, key=self.key
        )
        self.link.start()
        return self.link

    def stop(self) -> None:
        if self.link is not None:
            self.link.stop()

    def wake_link(self) -> None:
        if self.link is not None:
            self.link.wake()
