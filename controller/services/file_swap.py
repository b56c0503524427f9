"""Replacing files all or nothing, and writing new ones for our user alone.

Why a module of its own: a restore swaps in the database, the PIN key and the config file,
and a half-done swap (a new database with the old key) is worse than none; the rules for
that (write beside, fsync, keep the old file, rename, undo on failure) are here in one place.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

BEFORE_SUFFIX = ".before-restore"


def swap_in(pairs: list[tuple[Path, Path]]) -> list[Path]:
    """Put each staged file in place of its target, all or nothing; the targets' old contents
    stay as <name>.before-restore (those kept are returned).

    Each staged file is first copied beside its target (same filesystem) and fsynced; the old
    target is hard-linked (or copied) to .before-restore while it stays in place, then the new
    one is renamed over it. A failure puts back every target already replaced.
    """
    ready: list[tuple[Path, Path]] = []
    try:
        for staged, target in pairs:
            beside = target.with_name(f".{target.name}.restore-tmp")
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(staged, beside)
            os.chmod(beside, 0o600)
            fsync_file(beside)
            ready.append((beside, target))
    except OSError:
        for beside, _ in ready:
            beside.unlink(missing_ok=True)
        raise
    done: list[tuple[Path, Path | None]] = []
    try:
        for beside, target in ready:
            before = target.with_name(target.name + BEFORE_SUFFIX) if target.exists() else None
            if before is not None:
                _keep_copy(target, before)
            os.replace(beside, target)
            done.append((target, before))
    except OSError:
        for target, before in reversed(done):
            if before is not None:
                _keep_copy(before, target.with_name(f".{target.name}.rollback"))
                os.replace(target.with_name(f".{target.name}.rollback"), target)
            else:
                target.unlink(missing_ok=True)
        for beside, _ in ready:
            beside.unlink(missing_ok=True)
        raise
    for _, target in ready:
        fsync_dir(target.parent)
    return [before for _, before in done if before is not None]


def _keep_copy(source: Path, copy: Path) -> None:
    """`copy` with `source`'s content, `source` untouched: a hard link, or a copy where the
    filesystem has none."""
    copy.unlink(missing_ok=True)
    try:
        os.link(source, copy)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        shutil.copy2(source, copy)
        fsync_file(copy)


@contextmanager
def new_file(path: Path) -> Iterator[BinaryIO]:
    """A new file for our user alone (0600 whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        yield handle


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
