"""Backups of one controller: its database, its PIN key and its config file.

One archive (tar.gz) holds the three with a manifest (format, schema version, the PIN key's
fingerprint, when, which program version, a SHA-256 per file), optionally sealed with a
passphrase (controller.services.sealed). The database is copied with SQLite's online backup
API, so the door may keep writing events meanwhile and the copy is still one consistent moment.

Why the key travels with the database: members' PINs are HMACs under pin.key, so a database
without its own key is a list of PINs nobody can type (services.runtime refuses to start on
it). Putting an archive back is controller.services.restore.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sqlite3
import tarfile
import tempfile
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from controller.config.defaults import resolve_config_path
from controller.config.settings import Settings
from controller.domain.clock import Clock, to_utc, utc_now
from controller.domain.events import Event, EventType
from controller.domain.pins import PinHasher, PinKeyError
from controller.services.file_swap import fsync_dir, fsync_file, new_file
from controller.services.runtime import DB_FILE, PIN_KEY_FILE
from controller.services.sealed import seal
from controller.store.db import (
    Database,
    DatabaseError,
    schema_version,
)
from controller.store.events import EventLog
from controller.store.pin_key import stored_fingerprint

FORMAT = 1
MANIFEST = "manifest.json"
CONFIG_MEMBER = "openplus-door.toml"
log = logging.getLogger(__name__)

NAME_PREFIX = "openplus-door-"
PLAIN_SUFFIX, SEALED_SUFFIX = ".tar.gz", ".tar.gz.enc"


class BackupError(Exception):
    """A backup that cannot be made or restored; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What an archive holds, written first into it as JSON."""

    format: int
    schema_version: int
    key_fingerprint: str  # hex of PinHasher.fingerprint(): names the key, reveals nothing of it
    created_at: str  # ISO 8601, UTC
    app_version: str
    branch: str
    files: dict[str, str]  # member name -> SHA-256 hex

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            manifest = cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError):
            raise BackupError("the archive's manifest is damaged or not one openplus-door wrote") from None
        if manifest.format > FORMAT:
            raise BackupError(
                f"the archive has backup format {manifest.format}, newer than this "
                f"program reads ({FORMAT}); upgrade openplus-door first"
            )
        return manifest


def app_version() -> str:
    try:
        return version("openplus-door")
    except PackageNotFoundError:
        return "unknown"


def read_passphrase(path: Path) -> bytes:
    """The first line of `path`: a file for the service's user alone, like pin.key."""
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: cannot read the passphrase file ({exc})") from None
    if mode & 0o077:
        raise BackupError(f"{path}: the passphrase file is readable by others (mode {mode:o}); chmod 600 it")
    if not text or not text[0].strip():
        raise BackupError(f"{path}: the passphrase file is empty")
    return text[0].strip().encode("utf-8")


def backup_name(now: datetime, sealed: bool) -> str:
    """openplus-door-20261125T203000Z.tar.gz(.enc): UTC, so names sort by time across DST."""
    return NAME_PREFIX + to_utc(now).strftime("%Y%m%dT%H%M%SZ") + (SEALED_SUFFIX if sealed else PLAIN_SUFFIX)


# --- making one -----------------------------------------------------------------------------
def create_backup(
    settings: Settings,
    config_path: Path | None,
    out: Path,
    passphrase: bytes | None = None,
    clock: Clock = utc_now,
    actor: str = "door:daily-backup",
) -> Manifest:
    """Write an archive of the database, pin.key and the config file (if any) to `out`;
    audited (it holds every member's data): who, where, encrypted or not."""
    data_dir = settings.data_dir
    db_path, key_path = data_dir / DB_FILE, data_dir / PIN_KEY_FILE
    if not db_path.is_file():
        raise BackupError(
            f"no database at {db_path}: nothing to back up (is storage.data_dir "
            "or OPENPLUS_DOOR_DATA_DIR the controller's?)"
        )
    if not key_path.is_file():
        raise BackupError(f"no PIN key at {key_path}: start the service once, or restore it")
    key = _key_of(key_path.read_bytes(), str(key_path))
    out = out.expanduser()
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".openplus-door-backup-") as tmp:
        staged = Path(tmp)
        copy = staged / DB_FILE
        with closing(Database(db_path).connect()) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)  # online and consistent: one moment, writers go on
        with closing(sqlite3.connect(copy)) as conn:
            version_now, stored = schema_version(conn), stored_fingerprint(conn)
        fingerprint = key.fingerprint()
        if stored is not None and stored != fingerprint:
            raise BackupError(
                f"{key_path} is not the key this database's PINs were hashed with; "
                "a backup of the two could not be restored: fix the key first"
            )
        members = {DB_FILE: copy, PIN_KEY_FILE: key_path}
        if config_path is not None:
            members[CONFIG_MEMBER] = config_path
        manifest = Manifest(
            format=FORMAT,
            schema_version=version_now,
            key_fingerprint=fingerprint.hex(),
            created_at=clock().isoformat(),
            app_version=app_version(),
            branch=settings.branch.name,
            files={name: _sha256(path) for name, path in members.items()},
        )
        plain = staged / "archive.tar.gz"
        with new_file(plain) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
            for name, path in members.items():
                _add_bytes(tar, name, path.read_bytes())
        final = plain
        if passphrase is not None:
            final = staged / "archive.sealed"
            with plain.open("rb") as source_file, new_file(final) as sealed_file:
                seal(source_file, sealed_file, passphrase)
        fsync_file(final)
        os.replace(final, out)
    fsync_dir(out.parent)
    _audit(
        db_path,
        settings,
        clock,
        actor,
        "backup made",
        f"file={out.name} encrypted={'yes' if passphrase else 'no'} schema={version_now}",
    )
    return manifest


def _audit(db_path: Path, settings: Settings, clock: Clock, actor: str, what: str, detail: str) -> None:
    with closing(Database(db_path).connect()) as conn:
        EventLog(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=clock(),
                door=settings.branch.door,
                reason=what,
                actor=actor,
                detail=detail,
            )
        )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


def _key_of(data: bytes, where: str) -> PinHasher:
    try:
        return PinHasher(data)
    except PinKeyError as exc:
        raise BackupError(f"{where}: {exc}") from None


# --- the daily job --------------------------------------------------------------------------
def daily_backup(settings: Settings, config_path: Path | None, clock: Clock = utc_now) -> Path:
    """The door process's daily job ([backup] dir): a new archive, then only `keep` kept."""
    folder = settings.backup.dir
    if folder is None:
        raise BackupError("[backup] dir is not set")
    passphrase_file = settings.backup.passphrase_file
    passphrase = read_passphrase(passphrase_file) if passphrase_file is not None else None
    out = folder.expanduser() / backup_name(clock(), passphrase is not None)
    create_backup(settings, config_path, out, passphrase, clock)
    prune_backups(out.parent, settings.backup.keep)
    return out


def run_daily_backup(settings: Settings, clock: Clock = utc_now) -> Path | None:
    """The door process's timer calls this on a thread of its own: the config file is the one
    the service was started with ($OPENPLUS_DOOR_CONFIG, as the systemd unit sets). A failure
    is logged (the journal) and audited, never raised: the door goes on; None then."""
    try:
        out = daily_backup(settings, resolve_config_path(None), clock)
    except (BackupError, DatabaseError, OSError, sqlite3.Error) as exc:
        log.error("daily backup failed: %s", exc)
        try:
            _audit(
                settings.data_dir / DB_FILE,
                settings,
                clock,
                "door:daily-backup",
                "backup failed",
                str(exc)[:300],
            )
        except (DatabaseError, OSError, sqlite3.Error):
            log.exception("the failed backup could not be audited either")
        return None
    log.info("daily backup written to %s", out)
    return out


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives this job named (others' files are left)."""
    ours = sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.name.startswith(NAME_PREFIX)
        and path.name.endswith((PLAIN_SUFFIX, SEALED_SUFFIX))
    )
    gone = ours[:-keep] if len(ours) > keep else []
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


# --- files ----------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
