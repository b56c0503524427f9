"""Opening what every command and the service need: settings, database, PIN key, clock."""

from __future__ import annotations

import logging
import sqlite3
import stat
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from controller.config.settings import Settings
from controller.domain.clock import Clock, utc_now
from controller.domain.events import Event, EventType
from controller.domain.pins import PinHasher, PinKeyError
from controller.store import Database
from controller.store.db import DataDirError, transaction
from controller.store.events import EventLog
from controller.store.members import MemberStore
from controller.store.pin_key import (
    clear_all_pins,
    pins_stored,
    store_fingerprint,
    stored_fingerprint,
)

log = logging.getLogger(__name__)

DB_FILE = "openplus-door.db"
PIN_KEY_FILE = "pin.key"  # beside the database, never inside it; back them up separately
DATA_DIR_MODE = 0o700  # card numbers, names and token digests: for the service's user alone
RESET_ALL_PINS = "openplus-door pins reset-all --yes"

_warned_open_dirs: set[Path] = set()  # one warning per directory per process, not per open


@dataclass
class Runtime:
    """The opened data directory; `connection()` gives each thread its own SQLite connection."""

    settings: Settings
    db: Database
    hasher: PinHasher
    clock: Clock = field(default=utc_now)

    @classmethod
    def open(cls, settings: Settings, clock: Clock = utc_now) -> Runtime:
        """Refuses (PinKeyError) a PIN key that is missing or not the one the stored PINs were
        hashed with, rather than let every PIN turn wrong and every card lock."""
        data_dir = prepare_data_dir(settings.data_dir)
        db = Database(data_dir / DB_FILE)
        with closing(db.connect()) as conn:
            hasher = pin_hasher_for(conn, data_dir / PIN_KEY_FILE)
        return cls(settings=settings, db=db, hasher=hasher, clock=clock)

    def connection(self) -> sqlite3.Connection:
        return self.db.connect()

    def members(self, conn: sqlite3.Connection) -> MemberStore:
        return MemberStore(conn, self.hasher)

    def events(self, conn: sqlite3.Connection) -> EventLog:
        return EventLog(conn)


def prepare_data_dir(data_dir: Path) -> Path:
    """The data directory, made 0700 if missing (whoever starts us, whatever their umask).

    An existing directory that others can read is warned about, not changed: it may be a
    directory the operator shares on purpose (a backup group) or one that is not ours alone,
    and the systemd unit already makes /var/lib/openplus-door 0700. DataDirError, one line,
    when it is not a directory or cannot be made.
    """
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
        mode = stat.S_IMODE(data_dir.stat().st_mode)
    except FileExistsError:
        raise DataDirError(
            f"data directory {data_dir} is a file, not a directory; move it "
            "away or set storage.data_dir to a directory"
        ) from None
    except OSError as exc:
        raise DataDirError(
            f"data directory {data_dir}: cannot create it ({exc.strerror}); "
            "create it for this user (mode 700) or set storage.data_dir"
        ) from None
    if mode & 0o077 and data_dir not in _warned_open_dirs:
        _warned_open_dirs.add(data_dir)
        log.warning(
            "data directory %s can be read by others (mode %o); it holds card numbers, "
            "names and token digests: chmod 700 %s",
            data_dir,
            mode,
            data_dir,
        )
    return data_dir


def pin_hasher_for(conn: sqlite3.Connection, key_path: Path) -> PinHasher:
    """The PIN key that belongs to this database, its fingerprint stored on first use.

    With PINs stored, a missing key or one whose fingerprint differs is refused: a new key
    would make every PIN wrong and lock every card, silently. Without PINs nothing can be
    lost, so a missing key is made and a different one adopted (a fresh install, a key
    replaced before any PIN was set).
    """
    if not key_path.exists() and pins_stored(conn):
        raise PinKeyError(
            f"{key_path} is missing, but members' PINs were hashed with it: "
            f"copy the backup's pin.key to {key_path} (mode 600), or clear every "
            f"PIN with `{RESET_ALL_PINS}`"
        )
    hasher = PinHasher.from_key_file(key_path)
    fingerprint = hasher.fingerprint()
    if stored_fingerprint(conn) == fingerprint:
        return hasher  # the usual start: nothing to write
    with transaction(conn):  # another process may be doing the same; decide under the lock
        stored = stored_fingerprint(conn)
        if stored is not None and stored != fingerprint and pins_stored(conn):
            raise PinKeyError(
                f"{key_path} is not the key this database's PINs were hashed "
                f"with: copy the pin.key backed up with this database to "
                f"{key_path}, or clear every PIN with `{RESET_ALL_PINS}`"
            )
        if stored is not None and stored != fingerprint:
            log.warning(
                "PIN key %s differs from the one last used with this database; no "
                "member has a PIN, so it is taken as the key from now on",
                key_path,
            )
        store_fingerprint(conn, fingerprint)
    return hasher


def reset_all_pins(settings: Settings, actor: str, clock: Clock = utc_now) -> int:
    """Clear every member's PIN (and PIN lockout) and bind the key on disk, or a new one, to
    the database: the way back when the key is lost. Audited; the number cleared."""
    data_dir = prepare_data_dir(settings.data_dir)
    db = Database(data_dir / DB_FILE)
    hasher = PinHasher.from_key_file(data_dir / PIN_KEY_FILE)
    now = clock()
    with closing(db.connect()) as conn, transaction(conn):
        # Like a PIN set by staff, clearing it lifts the lockout: those failures were checked
        # against the wrong key.
        cleared = clear_all_pins(conn, now)
        store_fingerprint(conn, hasher.fingerprint())
        EventLog(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=now,
                door=settings.branch.door,
                reason="all PINs reset",
                actor=actor,
                detail=f"{cleared} PIN(s) cleared; PIN key {data_dir / PIN_KEY_FILE} bound",
            )
        )
    return cleared
