"""`openplus-door backup` and `openplus-door restore`: the database, PIN key and config file.

The use cases are controller.services.backup and .restore; here only the arguments and what is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from controller.cli.main import UsageError, actor
from controller.config.defaults import resolve_config_path
from controller.config.settings import Settings
from controller.domain.clock import utc_now
from controller.services.backup import (
    BackupError,
    backup_name,
    create_backup,
    read_passphrase,
)
from controller.services.restore import restore_backup


def backup(args: argparse.Namespace, settings: Settings) -> int:
    passphrase = _passphrase(args.passphrase_file)
    out: Path = args.output or Path.cwd() / backup_name(utc_now(), passphrase is not None)
    try:
        manifest = create_backup(settings, resolve_config_path(args.config), out, passphrase, actor=actor())
    except BackupError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"backup written to {out} (schema {manifest.schema_version}, "
        f"{'encrypted' if passphrase else 'NOT encrypted: it holds card numbers and the PIN key'}"
        f"; files: {', '.join(sorted(manifest.files))})"
    )
    return 0


def restore(args: argparse.Namespace, settings: Settings) -> int:
    try:
        done = restore_backup(
            settings,
            resolve_config_path(args.config),
            args.file,
            _passphrase(args.passphrase_file),
            actor=actor(),
        )
    except BackupError as exc:
        raise UsageError(f"not restored: {exc}") from None
    print(
        f"restored the backup made {done.manifest.created_at} (schema "
        f"{done.manifest.schema_version}, openplus-door {done.manifest.app_version}): "
        + ", ".join(str(path) for path in done.replaced)
    )
    if done.kept:
        print("the files it replaced are kept as " + ", ".join(str(p) for p in done.kept))
    if done.config_skipped:
        print(
            "the archive's config file was not restored: give --config PATH (or set "
            "OPENPLUS_DOOR_CONFIG) to put it there"
        )
    print("start the services again: systemctl start openplus-door openplus-door-web")
    return 0


def _passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return read_passphrase(path)
    except BackupError as exc:
        raise UsageError(str(exc)) from None
