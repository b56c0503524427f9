"""A file sealed with a passphrase: Scrypt derives the key, AES-GCM seals it chunk by chunk.

Why chunks: a backup holds the whole database (hundreds of MB with a large member list), and
AES-GCM in one piece needs it all in memory twice, which a Pi that also runs the door should
not spend. Each 1 MiB chunk has its own nonce (a random prefix + the chunk number) and says in
its nonce whether it is the last, so reordered, dropped or cut-off chunks fail to open (the
STREAM construction). A wrong passphrase fails on the first chunk.

Layout: MAGIC, salt (16), scrypt log2 n, r, p (1 byte each), nonce prefix (7), then chunks,
each a 4-byte big-endian length and that many bytes of ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:  # imported when used: the door process loads this module for its daily
    # backup, and most doors never encrypt, so they need not carry the library in memory
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OPENPLUS-DOOR-SEALED-1\n"
CHUNK = 1 << 20
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1  # 32 MiB of memory, well under a second on a Pi 4
_PREFIX_BYTES = 7
_MAX_SEALED_CHUNK = CHUNK + 16


class SealError(Exception):
    """A sealed file that cannot be opened: a wrong passphrase, or the file was altered."""


def is_sealed(head: bytes) -> bool:
    """Whether a file starting with `head` is one `seal` wrote."""
    return head.startswith(MAGIC)


def _cipher(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if not passphrase:
        raise SealError("the passphrase is empty")
    return AESGCM(Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase))


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", number, 1 if last else 0)


def seal(source: BinaryIO, target: BinaryIO, passphrase: bytes) -> None:
    """Write `source`, sealed with `passphrase`, to `target`."""
    salt, prefix = os.urandom(16), os.urandom(_PREFIX_BYTES)
    aead = _cipher(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    target.write(MAGIC + salt + bytes([SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P]) + prefix)
    number, chunk = 0, source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        sealed = aead.encrypt(_nonce(prefix, number, not following), chunk, MAGIC)
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if not following:
            return
        number, chunk = number + 1, following


def unseal(source: BinaryIO, target: BinaryIO, passphrase: bytes) -> None:
    """Write what `seal` sealed to `target`; SealError when it cannot be opened whole."""
    from cryptography.exceptions import InvalidTag

    head = source.read(len(MAGIC) + 16 + 3 + _PREFIX_BYTES)
    if not is_sealed(head) or len(head) < len(MAGIC) + 16 + 3 + _PREFIX_BYTES:
        raise SealError("not a sealed openplus-door file")
    salt = head[len(MAGIC) : len(MAGIC) + 16]
    log2_n, r, p = head[len(MAGIC) + 16 : len(MAGIC) + 19]
    if not (10 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        raise SealError("the file's key parameters are out of range: it was altered")
    aead = _cipher(passphrase, salt, log2_n, r, p)
    prefix, number = head[-_PREFIX_BYTES:], 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) < 4:
            raise SealError("the file ends early: it was cut off")
        (size,) = struct.unpack(">I", size_bytes)
        sealed = source.read(size) if size <= _MAX_SEALED_CHUNK else b""
        if len(sealed) != size or size < 16:
            raise SealError("the file is damaged: a chunk is cut off or too large")
        last = _at_end(source)  # a sealed file is read from disk: seekable
        try:
            target.write(aead.decrypt(_nonce(prefix, number, last), sealed, MAGIC))
        except InvalidTag:
            raise SealError("wrong passphrase, or the file was altered") from None
        if last:
            return
        number += 1


def _at_end(source: BinaryIO) -> bool:
    here = source.tell()
    end = source.seek(0, os.SEEK_END)
    source.seek(here)
    return here == end
