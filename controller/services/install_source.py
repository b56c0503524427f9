"""The checkout `openplus-door install` installs from: where it is, and the hash of what pip
would install from it (the installer's stamp in the venv, so a second run skips pip).

Only the standard library, like controller/services/install.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HASHED_TREES = ("controller", "drivers")
HASHED_FILES = ("pyproject.toml", "constraints.txt", "README.md")


def default_source() -> Path:
    """The checkout this module runs from; else (the venv's installed copy, `sudo openplus-door
    install` after a `git pull`) the current directory, when it is a checkout."""
    here = Path(__file__).resolve().parents[2]
    for candidate in (here, Path.cwd()):
        if (candidate / "pyproject.toml").is_file() and (candidate / "systemd").is_dir():
            return candidate
    return here  # not a checkout: install() says so, naming what is missing


def source_hash(source: Path) -> str:
    """What pip would install from `source`: the packages' files and the project's metadata."""
    digest = hashlib.sha256()
    files = [source / name for name in HASHED_FILES]
    for tree in HASHED_TREES:
        files += sorted(
            path for path in (source / tree).rglob("*") if path.is_file() and "__pycache__" not in path.parts
        )
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
