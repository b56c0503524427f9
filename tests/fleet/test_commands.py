"""The fleet command format (controller/services/fleet/commands.py): what a branch refuses, and why."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.services.fleet.commands import (
    MAX_PAYLOAD_BYTES,
    CommandRefused,
    KeyFileError,
    canonical_bytes,
    encode,
    generate_keys,
    load_private_key,
    load_public_key,
    new_envelope,
    sign,
    verify,
)

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key()


def envelope(kind: str = "unlock", body: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    base = new_envelope(kind, "assen", 5, "console:anna", {} if body is None else body, NOW)
    return {**base, **fields}


def payload(env: dict[str, Any], key: Ed25519PrivateKey = KEY) -> bytes:
    return encode(sign(env, key))


def refused(data: bytes, *, last: dict[str, int] | None = None, now: datetime = NOW) -> str:
    with pytest.raises(CommandRefused) as caught:
        verify(data, PUB, "assen", last or {}, now)
    return caught.value.reason


def test_a_signed_command_verifies_into_its_fields() -> None:
    command = verify(payload(envelope()), PUB, "assen", {"unlock": 4}, NOW)
    assert (command.kind, command.version, command.by, command.body) == (
        "unlock",
        5,
        "console:anna",
        {},
    )
    assert command.expires_at == NOW + timedelta(minutes=2)


def test_canonical_bytes_leave_out_the_signature_and_sort_keys() -> None:
    assert canonical_bytes({"b": 1, "a": "é", "sig": "x"}) == '{"a":"é","b":1}'.encode()


def test_a_tampered_envelope_is_refused_as_a_bad_signature() -> None:
    signed = sign(envelope(), KEY)
    signed["by"] = "console:mallory"
    reason = refused(encode(signed))
    assert reason.startswith("bad signature")


def test_another_key_is_refused() -> None:
    assert refused(payload(envelope(), Ed25519PrivateKey.generate())).startswith("bad signature")


def test_a_missing_or_garbled_signature_is_refused() -> None:
    assert "unsigned" in refused(encode(envelope()))
    assert "not base64" in refused(encode({**envelope(), "sig": "***"}))


def test_another_branch_is_refused() -> None:
    reason = refused(payload(envelope(branch="emmen")))
    assert "emmen" in reason and "assen" in reason


def test_a_replay_and_an_older_version_are_refused_per_kind() -> None:
    data = payload(envelope())
    assert "stale or replayed" in refused(data, last={"unlock": 5})
    assert "stale or replayed" in refused(data, last={"unlock": 9})
    assert verify(data, PUB, "assen", {"schedule": 9}, NOW).version == 5  # another kind's version


def test_an_expired_command_is_refused() -> None:
    assert "expired" in refused(payload(envelope()), now=NOW + timedelta(minutes=2))


def test_an_unlock_signed_to_live_longer_than_two_minutes_is_refused() -> None:
    long_lived = envelope(expires_at="2026-06-11T12:00:00Z")
    assert "at most" in refused(payload(long_lived))


def test_malformed_json_is_refused_naming_it() -> None:
    assert refused(b"{not json").startswith("not JSON")
    assert "not a JSON object" in refused(b"[1, 2]")
    assert refused(b"\xff\xfe").startswith("not JSON")


def test_an_unknown_kind_is_refused() -> None:
    assert "unknown kind 'reboot'" in refused(payload(envelope(kind="reboot", body={})))


def test_a_malformed_body_is_refused() -> None:
    assert "unlock body" in refused(payload(envelope(body={"seconds": 600})))
    bad_blocks = envelope("blocks", {"blocks": [{"patron": "P1", "until": "next week"}]})
    assert "until" in refused(payload(bad_blocks))


def test_missing_fields_are_named() -> None:
    env = envelope()
    del env["by"]
    assert "missing by" in refused(payload(env))


def test_an_oversized_payload_is_refused_before_parsing() -> None:
    assert "byte limit" in refused(b" " * (MAX_PAYLOAD_BYTES + 1))


def test_the_refusal_carries_what_the_envelope_claimed() -> None:
    with pytest.raises(CommandRefused) as caught:
        verify(payload(envelope()), PUB, "assen", {"unlock": 5}, NOW)
    assert caught.value.claim("kind") == "unlock" and caught.value.claim("version") == 5


def test_without_a_public_key_everything_is_refused() -> None:
    with pytest.raises(CommandRefused, match="command_key_file"):
        verify(payload(envelope()), None, "assen", {}, NOW)


def test_generated_keys_load_and_the_private_one_is_private(tmp_path: Path) -> None:
    private_path, public_path = generate_keys(tmp_path / "keys")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    key, pub = load_private_key(private_path), load_public_key(public_path)
    assert verify(payload(envelope(), key), pub, "assen", {}, NOW).kind == "unlock"
    with pytest.raises(KeyFileError, match="already exists"):
        generate_keys(tmp_path / "keys")


def test_a_wrong_key_file_is_named(tmp_path: Path) -> None:
    _, public_path = generate_keys(tmp_path)
    with pytest.raises(KeyFileError, match="not an Ed25519 private key"):
        load_private_key(public_path)
    with pytest.raises(KeyFileError, match="missing.pub"):
        load_public_key(tmp_path / "missing.pub")
    (tmp_path / "junk.pub").write_text(json.dumps({"not": "pem"}))
    with pytest.raises(KeyFileError, match="not an Ed25519 public key"):
        load_public_key(tmp_path / "junk.pub")
