"""Restoring a backup (controller.services.backup made it): the database, PIN key and config.

A restore refuses an archive whose key is not the one its database names, and one from a newer
schema than this program reads, before anything on disk is touched. Then the files are swapped
in all or nothing: each new file is written beside its target and fsynced, each old one is kept
as `<name>.before-restore`, and a failure midway puts back those already swapped.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tarfile
import tempfile
import tomllib
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from controller.config.settings import ConfigError, Settings, parse_settings
from controller.domain.clock import Clock, utc_now
from controller.services.backup import (
    CONFIG_MEMBER,
    MANIFEST,
    BackupError,
    Manifest,
    _audit,
    _key_of,
)
from controller.services.file_swap import new_file, swap_in
from controller.services.runtime import DB_FILE, PIN_KEY_FILE, prepare_data_dir
from controller.services.sealed import SealError, is_sealed, unseal
from controller.store.db import SCHEMA_VERSION, checkpoint_and_truncate, passes_quick_check, schema_version
from controller.store.pin_key import stored_fingerprint


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    replaced: list[Path]  # now the archive's
    kept: list[Path]  # the files they replaced, as <name>.before-restore
    config_skipped: bool  # the archive has a config file but no config path was given


def restore_backup(
    settings: Settings,
    config_path: Path | None,
    archive: Path,
    passphrase: bytes | None = None,
    clock: Clock = utc_now,
    actor: str = "cli",
) -> Restored:
    """Check the archive whole, then swap its files in all or nothing (see the module doc).

    Stop the door and web services first: a database in use is refused.
    """
    data_dir = prepare_data_dir(settings.data_dir)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".openplus-door-restore-") as tmp:
        staged = Path(tmp)
        manifest, files = _unpack(archive, staged, passphrase)
        _check_database(files[DB_FILE], files[PIN_KEY_FILE], manifest)
        targets = [(files[DB_FILE], data_dir / DB_FILE), (files[PIN_KEY_FILE], data_dir / PIN_KEY_FILE)]
        config_skipped = CONFIG_MEMBER in files and config_path is None
        if CONFIG_MEMBER in files and config_path is not None:
            _check_config(files[CONFIG_MEMBER])
            targets.append((files[CONFIG_MEMBER], config_path))
        _quiesce(data_dir / DB_FILE)
        kept = swap_in(targets)
    # Opening migrates an older schema to this program's; the restore is then audited in it.
    _audit(
        data_dir / DB_FILE,
        settings,
        clock,
        actor,
        "backup restored",
        f"file={archive.name} made={manifest.created_at} schema={manifest.schema_version}",
    )
    return Restored(manifest, [target for _, target in targets], kept, config_skipped)


def _unpack(archive: Path, staged: Path, passphrase: bytes | None) -> tuple[Manifest, dict[str, Path]]:
    """The manifest and each member written to `staged`, every checksum checked."""
    try:
        with archive.open("rb") as handle:
            head = handle.read(64)
            handle.seek(0)
            plain = archive
            if is_sealed(head):
                if passphrase is None:
                    raise BackupError(f"{archive} is encrypted: give its --passphrase-file")
                plain = staged / "archive.tar.gz"
                with new_file(plain) as target:
                    unseal(handle, target, passphrase)
    except SealError as exc:
        raise BackupError(f"{archive}: {exc}") from None
    except OSError as exc:
        raise BackupError(f"{archive}: cannot read it ({exc.strerror})") from None
    try:
        with tarfile.open(plain, "r:gz") as tar:
            manifest = Manifest.parse(_member(tar, MANIFEST))
            files = {}
            for name, digest in manifest.files.items():
                if name not in (DB_FILE, PIN_KEY_FILE, CONFIG_MEMBER):
                    raise BackupError(f"the archive names an unknown file {name!r}")
                data = _member(tar, name)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise BackupError(
                        f"{name} in the archive does not match its checksum: the archive is damaged"
                    )
                files[name] = staged / name
                with new_file(files[name]) as target:
                    target.write(data)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{archive} is not an openplus-door backup, or a damaged one ({exc})") from None
    if DB_FILE not in files or PIN_KEY_FILE not in files:
        raise BackupError(f"{archive} lacks the database or the PIN key")
    return manifest, files


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    try:
        handle = tar.extractfile(name)
    except KeyError:
        handle = None
    if handle is None:
        raise BackupError(f"the archive has no {name}: not an openplus-door backup")
    return handle.read()


def _check_database(db: Path, key_file: Path, manifest: Manifest) -> None:
    """Refuse a newer schema, a damaged database and a key that is not its own."""
    if manifest.schema_version > SCHEMA_VERSION:
        raise BackupError(_newer(manifest.schema_version))
    key = _key_of(key_file.read_bytes(), "the archive's pin.key")
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            found = schema_version(conn)
            if found > SCHEMA_VERSION:
                raise BackupError(_newer(found))
            if not passes_quick_check(conn):
                raise BackupError("the archive's database is damaged (quick_check failed)")
            stored = stored_fingerprint(conn) if found >= 6 else None  # pin_key came in 6
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the archive's database cannot be read ({exc})") from None
    if stored is not None and stored != key.fingerprint():
        raise BackupError(
            "the archive's pin.key is not the key its database's PINs were hashed "
            f"with (fingerprint {key.fingerprint().hex()[:12]}, the database names "
            f"{stored.hex()[:12]}); restoring it would make every PIN wrong"
        )


def _newer(found: int) -> str:
    return (
        f"the backup is from a newer schema ({found}) than this program reads "
        f"({SCHEMA_VERSION}); upgrade openplus-door first, then restore"
    )


def _check_config(path: Path) -> None:
    try:
        parse_settings(tomllib.loads(path.read_text(encoding="utf-8")), "the archive's config")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ConfigError) as exc:
        raise BackupError(f"the archive's config file does not load in this version: {exc}") from None


def _quiesce(db_path: Path) -> None:
    """Fold the old database's WAL into it and drop the WAL files: the restored file must not
    meet the old one's log. A log that cannot be folded means a process still uses it."""
    if not db_path.exists():
        return
    with closing(sqlite3.connect(db_path, timeout=1.0)) as conn:
        busy = not checkpoint_and_truncate(conn)
    wal = db_path.with_name(db_path.name + "-wal")
    if busy or (wal.exists() and wal.stat().st_size > 0):
        raise BackupError(
            f"{db_path} is in use: stop the door and web services first "
            "(systemctl stop openplus-door openplus-door-web)"
        )
    for suffix in ("-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
