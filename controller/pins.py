"""PINs are kept only as keyed hashes: HMAC-SHA256 with a per-member salt and a secret key file.

A 4-6 digit PIN has at most a million values, so any hash stored next to it falls to offline
guessing in seconds, however slow. What stops that is a key that is not in the database: a
stolen database (or backup) alone reveals nothing. Online guessing is stopped by the lockout.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

PIN_RE = re.compile(r"\d{4,6}")
KEY_BYTES = 32
SALT_BYTES = 16


class PinFormatError(ValueError):
    """A PIN that is not 4-6 digits."""


class PinKeyError(Exception):
    """The PIN key file is missing, unreadable, the wrong size or readable by others."""


def validate_pin(pin: str) -> str:
    if not PIN_RE.fullmatch(pin):
        raise PinFormatError("PIN must be 4 to 6 digits")
    return pin


class PinHasher:
    """Hashes and checks PINs with one secret key; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise PinKeyError(f"PIN key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key

    def __repr__(self) -> str:
        return "PinHasher(key=<hidden>)"

    def hash(self, pin: str) -> tuple[bytes, bytes]:
        """A fresh (salt, digest) for a valid PIN."""
        salt = secrets.token_bytes(SALT_BYTES)
        return salt, self._digest(salt, validate_pin(pin))

    def verify(self, pin: str, salt: bytes | None, digest: bytes | None) -> bool:
        """True only for a stored PIN that matches; no PIN stored means no match."""
        if not salt or not digest or not PIN_RE.fullmatch(pin):
            return False
        return hmac.compare_digest(self._digest(salt, pin), digest)

    def _digest(self, salt: bytes, pin: str) -> bytes:
        return hmac.new(self._key, salt + pin.encode("ascii"), hashlib.sha256).digest()

    @classmethod
    def from_key_file(cls, path: Path) -> "PinHasher":
        """Load the key, creating it (mode 0600) on first start; refuse a key others can read."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first; read theirs
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(secrets.token_bytes(KEY_BYTES))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PinKeyError(f"{path}: PIN key is readable by others (mode {mode:o}); chmod 600 it")
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise PinKeyError(f"{path}: cannot read the PIN key ({exc})") from None
        try:
            return cls(key)
        except PinKeyError as exc:
            raise PinKeyError(f"{path}: {exc}") from None
