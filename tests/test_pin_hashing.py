"""PIN hashing for the million-row import: salts drawn per batch, the same HMAC as every
stored PIN, and only keypad digits taken as a PIN."""

from __future__ import annotations

import hashlib
import hmac
from contextlib import closing

import pytest

from controller.domain import pins
from controller.domain.pins import SALT_BYTES, PinFormatError, PinHasher, validate_pin
from controller.services.member_import import ImportRejected
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime
from tests.helpers import csv_file, csv_line

KEY = bytes(range(32))


def test_hash_many_is_the_stored_construction_with_a_salt_per_pin():
    """Stored PINs are HMAC-SHA256(key, salt + PIN): hash_many must give exactly that (or
    every imported PIN would be "wrong" at the door), with a different salt for each PIN."""
    hasher = PinHasher(KEY)
    pairs = hasher.hash_many(["1234", "1234", "987654"])
    salts = [salt for salt, _ in pairs]
    assert all(len(salt) == SALT_BYTES for salt in salts)
    assert len(set(salts)) == 3
    for (salt, digest), pin in zip(pairs, ["1234", "1234", "987654"], strict=True):
        assert digest == hmac.new(KEY, salt + pin.encode("ascii"), hashlib.sha256).digest()
        assert hasher.verify(pin, salt, digest)
    salt, digest = hasher.hash("4321")  # one PIN at a time: the same construction
    assert digest == hmac.new(KEY, salt + b"4321", hashlib.sha256).digest()


def test_hash_many_refuses_a_bad_pin_before_hashing_any():
    with pytest.raises(PinFormatError):
        PinHasher(KEY).hash_many(["1234", "12"])


def test_an_import_draws_its_salts_once_per_batch(runtime: Runtime, clock, monkeypatch):
    """One call to the OS's random source per PIN cost seconds on a million rows: the import
    now draws a batch's salts at once (and still stores a different salt per member)."""
    draws: list[int] = []
    real_urandom = pins.os.urandom

    def counting_urandom(size: int) -> bytes:
        draws.append(size)
        return real_urandom(size)

    monkeypatch.setattr(pins.os, "urandom", counting_urandom)
    with closing(runtime.connection()) as conn:
        admin = MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "entrance")
        admin.import_csv(csv_file(*(csv_line(n) for n in range(1, 2501))), "test")
        salts = {row[0] for row in conn.execute("SELECT pin_salt FROM members")}
        member = runtime.members(conn).get("P02500")
    assert draws == [1000 * SALT_BYTES, 1000 * SALT_BYTES, 500 * SALT_BYTES]
    assert len(salts) == 2500
    assert member is not None and runtime.hasher.verify("1234", member.pin_salt, member.pin_hash)


@pytest.mark.parametrize("pin", ["١٢٣٤", "１２３４", "12３4"])  # Arabic-Indic, full-width digits
def test_digits_of_other_scripts_are_not_a_pin(pin: str, runtime: Runtime, clock):
    """`\\d` took these, and hashing one then failed on encoding it as ASCII (a traceback in
    the import, a server error on the API): now it is a bad PIN like any other."""
    with pytest.raises(PinFormatError):
        validate_pin(pin)
    assert not PinHasher(KEY).verify(pin, b"s" * SALT_BYTES, b"d" * 32)
    with closing(runtime.connection()) as conn:
        admin = MemberAdmin(runtime.members(conn), runtime.events(conn), clock, "entrance")
        with pytest.raises(ImportRejected) as rejected:
            admin.import_csv(csv_file(csv_line(1, pin=pin)), "test")
    assert [str(e) for e in rejected.value.errors] == ["line 2: PIN must be 4 to 6 digits"]


def test_the_precomputed_hmac_is_hmac_sha256_for_any_salt_and_pin():
    """_digest feeds the key into HMAC's inner and outer hashes once (RFC 2104) instead of
    calling hmac per PIN: it must give hmac's bytes exactly, or stored PINs stop matching."""
    hasher = PinHasher(KEY)
    for salt, pin in [(b"", "1234"), (b"\x00" * SALT_BYTES, "000000"), (bytes(range(16)), "98765")]:
        assert hasher._digest(salt, pin) == hmac.digest(KEY, salt + pin.encode(), "sha256")


def test_unchanged_many_says_which_pins_are_the_stored_ones():
    """The re-import's batch check: the same answer as verify() per PIN."""
    hasher = PinHasher(KEY)
    (salt, digest), (other_salt, other_digest) = hasher.hash_many(["1234", "5678"])
    stored = [(salt, digest), (other_salt, other_digest), (None, None), (salt, digest)]
    pins_given = ["1234", "1234", "1234", "١٢٣٤"]
    assert hasher.unchanged_many(pins_given, stored) == [True, False, False, False]
    assert [hasher.verify(pin, *pair) for pin, pair in zip(pins_given, stored, strict=True)] == [
        True,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize("batch", [["1234", "12"], ["1234\n5678"], ["1234", "12 34"], ["١٢٣٤"]])
def test_a_batch_with_one_bad_pin_is_not_all_pins(batch: list[str]):
    """all_pins checks a batch in one match: a PIN holding a newline must not pass as two."""
    assert not pins.all_pins(batch)
    assert pins.all_pins(["1234", "000000", "98765"]) and pins.all_pins([])
    with pytest.raises(PinFormatError):
        PinHasher(KEY).hash_many(batch)
