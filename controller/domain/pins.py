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
import tempfile
from collections.abc import Sequence
from pathlib import Path

KEY_BYTES = 32
SALT_BYTES = 16
# What the key fingerprint is an HMAC of; changing it would make every stored fingerprint differ.
FINGERPRINT_TEXT = b"openplus-door PIN key fingerprint v1"
# is_pin as a pattern (fullmatch: one C call where the import checks a million PINs), and
# for a whole batch of PINs joined by newlines (see all_pins).
PIN_PATTERN = re.compile(r"[0-9]{4,6}")
_PIN_LINES = re.compile(r"[0-9]{4,6}(?:\n[0-9]{4,6})*")
_SHA256_BLOCK = 64  # bytes; a key up to this size is zero-padded to it (RFC 2104)


class PinFormatError(ValueError):
    """A PIN that is not 4-6 digits."""


class PinKeyError(Exception):
    """The PIN key file is missing, unreadable, the wrong size, readable by others, or not the
    key this database's PINs were hashed with."""


def is_pin(text: str) -> bool:
    """4 to 6 ASCII digits. Not `\\d`, which also takes other scripts' digits ("١٢٣٤"): those
    are no keypad's, and hashing one failed on encoding it as ASCII (a server error)."""
    return PIN_PATTERN.fullmatch(text) is not None


def all_pins(pins: Sequence[str]) -> bool:
    """is_pin for every one of `pins`, checked in one pass (no Python call per PIN): they are
    joined by newlines and matched at once, and a PIN with a newline of its own is caught by
    the count of newlines."""
    if not pins:
        return True
    joined = "\n".join(pins)
    return _PIN_LINES.fullmatch(joined) is not None and joined.count("\n") == len(pins) - 1


def validate_pin(pin: str) -> str:
    if not is_pin(pin):
        raise PinFormatError("PIN must be 4 to 6 digits")
    return pin


class PinHasher:
    """Hashes and checks PINs with one secret key; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise PinKeyError(f"PIN key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        # HMAC's inner and outer hashes with the key already fed in (RFC 2104), copied per
        # PIN: the same digest as hmac.digest(key, ...), at a third of its cost, which a
        # million-row import (a hash or a check per PIN) spends seconds on.
        padded = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def __repr__(self) -> str:
        return "PinHasher(key=<hidden>)"

    def hash(self, pin: str) -> tuple[bytes, bytes]:
        """A fresh (salt, digest) for a valid PIN."""
        salt = secrets.token_bytes(SALT_BYTES)
        return salt, self._digest(salt, validate_pin(pin))

    def hash_many(self, pins: Sequence[str]) -> list[tuple[bytes, bytes]]:
        """A fresh (salt, digest) per valid PIN, as hash() would give, for an import batch.

        Why not hash() in a loop: a million-row import spent seconds on one random-number
        call per PIN. Here the salts of the whole batch are one draw from the OS's random
        source, cut into SALT_BYTES pieces: still an unpredictable, unique-in-practice salt
        per PIN, only fetched in bulk. The digest is the same HMAC as hash()'s.
        """
        if not all_pins(pins):  # a bad one raises before any is hashed
            for pin in pins:
                validate_pin(pin)
        salts = os.urandom(SALT_BYTES * len(pins))
        digest, pairs = self._digest, []
        for n, pin in enumerate(pins):
            salt = salts[n * SALT_BYTES : (n + 1) * SALT_BYTES]
            pairs.append((salt, digest(salt, pin)))
        return pairs

    def unchanged_many(
        self, pins: Sequence[str], stored: Sequence[tuple[bytes | None, bytes | None]]
    ) -> list[bool]:
        """verify() for each PIN with its stored (salt, digest), for an import batch: which
        PINs are the stored ones, so need no fresh hash. The PINs are checked in one go."""
        if not all_pins(pins):
            return [self.verify(pin, *pair) for pin, pair in zip(pins, stored, strict=True)]
        digest, same = self._digest, hmac.compare_digest
        return [
            bool(salt and known and same(digest(salt, pin), known))
            for pin, (salt, known) in zip(pins, stored, strict=True)
        ]

    def verify(self, pin: str, salt: bytes | None, digest: bytes | None) -> bool:
        """True only for a stored PIN that matches; no PIN stored means no match."""
        if not salt or not digest or not is_pin(pin):
            return False
        return hmac.compare_digest(self._digest(salt, pin), digest)

    def _digest(self, salt: bytes, pin: str) -> bytes:
        """HMAC-SHA256 of salt + PIN under the key: what every stored PIN hash is, the same
        bytes as hmac.digest(key, salt + pin, "sha256") (see __init__ for why not that)."""
        inner = self._inner.copy()
        inner.update(salt + pin.encode("ascii"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def fingerprint(self) -> bytes:
        """An HMAC of a fixed text under the key: stored in the database, it tells at start
        whether a key file is the one its PINs were hashed with. It reveals nothing of the key
        (nor helps guess a PIN): finding a key from it is breaking HMAC-SHA256."""
        return hmac.new(self._key, FINGERPRINT_TEXT, hashlib.sha256).digest()

    @classmethod
    def from_key_file(cls, path: Path) -> PinHasher:
        """Load the key, creating it (mode 0600) when missing; refuse a key others can read.
        Whether a missing key may be made is the caller's to decide (runtime.pin_hasher_for:
        not when PINs hashed with the old one are stored)."""
        path = Path(path)
        if not path.exists():
            _create_key_file(path)
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


def _create_key_file(path: Path) -> None:
    """A new random key at `path`, appearing whole or not at all: written to a temporary file
    and hard-linked into place, so a process starting at the same moment (the door and the web
    process) never reads a half-written key, and the first one made wins."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".pin.key.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first; everyone uses theirs
    finally:
        os.unlink(temporary)
