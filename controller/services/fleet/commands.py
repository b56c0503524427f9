"""Signed, versioned fleet commands (issue 17): the format the console sends and a branch checks.

A command travels on `<prefix>/<branch>/commands` (QoS 1, not retained) as one JSON object:

    {"v": 1, "id": "<32 hex>", "kind": "schedule"|"blocks"|"members"|"rules"|"unlock"|"resend",
     "branch": "<target>", "version": <int > 0>, "issued_at": "<ISO UTC Z>",
     "expires_at": "<ISO UTC Z>", "by": "<console user>", "body": {...}, "sig": "<base64>"}

`sig` is an Ed25519 signature over the canonical JSON of the envelope without "sig" (sorted
keys, no spaces, UTF-8), so the console and every branch agree on the bytes whatever JSON
library wrote them. The broker is not trusted: anyone able to publish on the topic (a stolen
controller's credentials, a misconfigured ACL) still cannot make a door obey without the fleet's
private key, which lives only on the console.

`version` is the console's one increasing counter. A branch applies a command only when its
version is above the last one it applied of that kind; a replayed or older message is refused.
`resend` {"from_seq", "to_seq"} asks the branch to send its outbox messages with those seqs
again (the console saw a gap: the broker acknowledged them and lost them); refused with
NOT_KEPT in the reason when the branch no longer has them. Everything refused raises CommandRefused with a reason a person can act on; verify() never
lets a json, base64 or cryptography exception through.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = 1
KINDS = ("schedule", "blocks", "members", "rules", "unlock", "resend")
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024  # a whole member list fits; a runaway message does not
UNLOCK_LIFETIME = timedelta(minutes=2)  # a remote unlock arriving later is no longer wanted
# A resend: the console asks again after this if no answer came (a gap it saw an hour ago is
# asked for anew, not by a stale command queued for a branch that was away).
RESEND_LIFETIME = timedelta(minutes=10)
MAX_RESEND = 10_000  # seqs in one resend: a long gap is asked for in parts
NOT_KEPT = "no longer kept"  # in a refused resend's reason: the console stops asking for it
LIFETIME = timedelta(days=30)  # the other kinds: a controller offline for weeks still catches up
PRIVATE_KEY_FILE = "fleet.key"
PUBLIC_KEY_FILE = "fleet.pub"

_ID = re.compile(r"^[0-9a-f]{32}$")
_FIELDS = ("v", "id", "kind", "branch", "version", "issued_at", "expires_at", "by", "body", "sig")


class CommandRefused(Exception):
    """A command this branch will not apply, with why; `claimed` is what the envelope said of
    itself (id, kind, version, by) as far as it could be read, for the ack and the audit line.
    For a bad signature those are claims only: nothing of it was verified."""

    def __init__(self, reason: str, claimed: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claimed: dict[str, Any] = dict(claimed or {})

    @property
    def signed(self) -> bool:
        """Whether the fleet key signed the envelope (so its claims are the console's)."""
        return self.claimed.get("signed") is True

    def claim(self, field: str) -> Any:
        value = self.claimed.get(field)
        return value if isinstance(value, str | int) and not isinstance(value, bool) else None


class KeyFileError(Exception):
    """A fleet key file that is missing or not the key it should be."""


@dataclass(frozen=True)
class Command:
    """A verified command: signature, branch, lifetime and version checked."""

    id: str
    kind: str
    branch: str
    version: int
    issued_at: datetime
    expires_at: datetime
    by: str
    body: dict[str, Any]


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def lifetime_of(kind: str) -> timedelta:
    return {"unlock": UNLOCK_LIFETIME, "resend": RESEND_LIFETIME}.get(kind, LIFETIME)


def new_envelope(
    kind: str,
    branch: str,
    version: int,
    by: str,
    body: Mapping[str, Any],
    now: datetime,
    *,
    command_id: str | None = None,
) -> dict[str, Any]:
    """An unsigned envelope as the console builds it (its expiry from the kind's lifetime)."""
    return {
        "v": FORMAT,
        "id": command_id or uuid.uuid4().hex,
        "kind": kind,
        "branch": branch,
        "version": version,
        "issued_at": iso_z(now),
        "expires_at": iso_z(now + lifetime_of(kind)),
        "by": by,
        "body": dict(body),
    }


def canonical_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The signed bytes: the envelope without "sig", sorted keys, no spaces, UTF-8."""
    unsigned = {key: value for key, value in envelope.items() if key != "sig"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(envelope: Mapping[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of the envelope with its "sig"."""
    signature = private_key.sign(canonical_bytes(envelope))
    return {**envelope, "sig": base64.b64encode(signature).decode("ascii")}


def encode(signed: Mapping[str, Any]) -> bytes:
    """The MQTT payload of a signed envelope."""
    return json.dumps(signed, ensure_ascii=False).encode()


def verify(
    payload: bytes,
    public_key: Ed25519PublicKey | None,
    branch: str,
    last_versions: Mapping[str, int],
    now: datetime,
) -> Command:
    """The command in `payload` if this branch may apply it now, else CommandRefused.

    The signature is checked before anything the envelope says is believed; `last_versions`
    maps a kind to the last version applied of it (absent: none yet)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandRefused(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD_BYTES} byte limit")
    try:
        envelope = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise CommandRefused(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise CommandRefused(f"not a JSON object but {type(envelope).__name__}")
    claimed = {key: envelope.get(key) for key in ("id", "kind", "version", "by")}
    if public_key is None:
        raise CommandRefused("no fleet public key configured ([fleet] command_key_file)", claimed)
    _check_signature(envelope, public_key, claimed)
    claimed["signed"] = True  # from here on, what the envelope says is the console's word
    command = _parse(envelope, claimed)
    if command.branch != branch:
        raise CommandRefused(f"addressed to branch {command.branch!r}, this is {branch!r}", claimed)
    if now >= command.expires_at:
        raise CommandRefused(f"expired at {iso_z(command.expires_at)}", claimed)
    last = last_versions.get(command.kind, 0)
    if command.version <= last:
        raise CommandRefused(
            f"stale or replayed: version {command.version} of {command.kind}, already applied version {last}",
            claimed,
        )
    return command


def _check_signature(envelope: dict[str, Any], public_key: Ed25519PublicKey, claimed: dict[str, Any]) -> None:
    sig = envelope.get("sig")
    if not isinstance(sig, str) or not sig:
        raise CommandRefused('unsigned: no "sig"', claimed)
    try:
        signature = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise CommandRefused('bad signature: "sig" is not base64', claimed) from None
    try:
        public_key.verify(signature, canonical_bytes(envelope))
    except InvalidSignature:
        raise CommandRefused(
            "bad signature: not signed by the fleet key, or changed since", claimed
        ) from None


def _parse(envelope: dict[str, Any], claimed: dict[str, Any]) -> Command:
    """The fields, each checked; the signature already holds, so a failure here is the
    console's bug or an old/new format, named as such."""

    def refuse(why: str) -> CommandRefused:
        return CommandRefused(f"malformed command: {why}", claimed)

    unknown = sorted(set(envelope) - set(_FIELDS))
    missing = [field for field in _FIELDS if field not in envelope]
    if missing:
        raise refuse(f"missing {', '.join(missing)}")
    if unknown:
        raise refuse(f"unknown field(s) {', '.join(unknown)}")
    if envelope["v"] != FORMAT or isinstance(envelope["v"], bool):
        raise refuse(f"format version {envelope['v']!r}, this branch reads {FORMAT}")
    if not isinstance(envelope["id"], str) or not _ID.match(envelope["id"]):
        raise refuse("id is not 32 lowercase hex digits")
    kind = envelope["kind"]
    if kind not in KINDS:
        raise CommandRefused(f"unknown kind {kind!r} (known: {', '.join(KINDS)})", claimed)
    version = envelope["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version <= 0:
        raise refuse(f"version {version!r} is not a positive integer")
    if not isinstance(envelope["branch"], str) or not envelope["branch"]:
        raise refuse("branch is not a non-empty string")
    by = envelope["by"]
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise refuse("by is not a user name")
    issued_at = _moment(envelope["issued_at"], "issued_at", refuse)
    expires_at = _moment(envelope["expires_at"], "expires_at", refuse)
    if expires_at <= issued_at:
        raise refuse("expires_at is not after issued_at")
    if expires_at - issued_at > lifetime_of(kind):
        raise refuse(f"a {kind} command may live at most {lifetime_of(kind)}")
    body = envelope["body"]
    if not isinstance(body, dict):
        raise refuse("body is not a JSON object")
    problem = body_problem(kind, body)
    if problem:
        raise refuse(f"{kind} body: {problem}")
    return Command(envelope["id"], kind, envelope["branch"], version, issued_at, expires_at, by, body)


def _moment(value: object, field: str, refuse: Any) -> datetime:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise refuse(f"{field} is not an ISO UTC time ending in Z")
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        raise refuse(f"{field} {value!r} is not an ISO time") from None
    return moment


def body_problem(kind: str, body: dict[str, Any]) -> str | None:
    """The shape each kind's body must have before it reaches the service layer (which
    checks the values themselves, as it does for the web side); None when it fits."""
    if kind == "unlock":
        if body:  # the door's own pulse, as POST /door/unlock gives: no length to choose
            return "expected {} (the door gives its configured unlock pulse)"
    elif kind == "resend":
        return resend_problem(body)
    elif kind == "blocks":
        blocks = body.get("blocks")
        if set(body) != {"blocks"} or not isinstance(blocks, list):
            return 'expected {"blocks": [{"patron", "reason", "until"}, ...]}'
        for n, row in enumerate(blocks):
            if not isinstance(row, dict) or not isinstance(row.get("patron"), str) or not row["patron"]:
                return f"entry {n} has no patron id"
            if not isinstance(row.get("reason", ""), str | type(None)):
                return f"entry {n}: reason is not text"
            until = row.get("until")
            if until is not None and not _is_day(until):
                return f"entry {n}: until {until!r} is not YYYY-MM-DD or null"
    elif kind == "members":
        if not set(body) <= {"upsert", "remove"}:
            return 'expected {"upsert": [...], "remove": [...]}'
        if not isinstance(body.get("upsert", []), list) or not isinstance(body.get("remove", []), list):
            return "upsert and remove are lists"
        if not all(isinstance(row, dict) for row in body.get("upsert", [])):
            return "each upsert row is an object"
        if not all(isinstance(pid, str) and pid for pid in body.get("remove", [])):
            return "each removed id is a non-empty string"
    return None


def resend_problem(body: dict[str, Any]) -> str | None:
    """A resend body is {"from_seq": n, "to_seq": m}, 1 <= n <= m, at most MAX_RESEND seqs."""
    shape = 'expected {"from_seq": <int >= 1>, "to_seq": <int >= from_seq>}'
    if set(body) != {"from_seq", "to_seq"}:
        return shape
    low, high = body["from_seq"], body["to_seq"]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (low, high)):
        return shape
    if low < 1 or high < low:
        return f"{shape}, not {low}..{high}"
    if high - low + 1 > MAX_RESEND:
        return f"{high - low + 1} seqs asked for, at most {MAX_RESEND} at a time"
    return None


def _is_day(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


# --- keys --------------------------------------------------------------------------------


def generate_keys(directory: Path) -> tuple[Path, Path]:
    """Write a new fleet.key (PKCS8 PEM, mode 0600: only on the console) and fleet.pub (PEM,
    copied to every branch) into `directory`; refuses to overwrite an existing key, since
    every branch would then refuse the console's commands until it got the new public key."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; move it away to make a new key pair")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    os.chmod(private_path, 0o600)  # whatever the umask
    public_path.write_bytes(public_pem)
    os.chmod(public_path, 0o644)  # public: the service user of a branch reads its copy
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key: object = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key (PEM, unencrypted)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key: object = serialization.load_pem_public_key(_read(path))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key (PEM)")
    return key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror}") from None
