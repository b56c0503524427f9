"""What the console accepts from the broker, checked field by field before anything is stored.

The shapes are the publisher's (controller/services/fleet/messages.py) and the ack of
the fleet command format (issue 17). The broker is not
trusted: a message that is too big, not JSON, of an unknown format, or whose `branch` is not
the branch of its topic is Malformed, with a short `kind` for the counters and a reason for the log.
Unknown extra fields are ignored, so a newer branch can add one without the console refusing it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from controller.config.fleet import TOPIC_PART
from controller.services.fleet.messages import FORMAT

MAX_MESSAGE_BYTES = 64 * 1024  # an event, state or ack is a few hundred bytes
LEAVES = ("state", "heartbeat", "events", "acks")
_BRANCH = re.compile(TOPIC_PART)
_TEXT = 2000


class Malformed(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1]
    branch: str = Field(pattern=TOPIC_PART)


class StateIn(_In):
    state: Literal["online", "offline"]


class HeartbeatIn(_In):
    at: AwareDatetime
    outbox: int | None = Field(None, ge=0)
    acked_seq: int | None = Field(None, ge=0)  # absent from a branch from before seqs


class EventIn(_In):
    id: str = Field(max_length=200)
    at: AwareDatetime
    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    door: str | None = Field(None, max_length=200)
    reason: str | None = Field(None, max_length=200)
    member: str | None = Field(None, max_length=200)
    card_hint: str | None = Field(None, max_length=32)
    detail: str | None = Field(None, max_length=_TEXT)
    seq: int | None = Field(None, ge=1)  # the branch's outbox seq (service/gaps.py)


class AckIn(_In):
    """A branch's answer. For a refused command, id, kind and version are what the envelope
    claimed, as far as it could be read: any text, or null."""

    command: str | None = Field(None, max_length=200)
    kind: str | None = Field(None, max_length=64)
    version: int | None = None
    status: Literal["applied", "refused"]
    reason: str | None = Field(None, max_length=_TEXT)
    at: AwareDatetime
    seq: int | None = Field(None, ge=1)


MODELS: dict[str, type[_In]] = {"state": StateIn, "heartbeat": HeartbeatIn, "events": EventIn, "acks": AckIn}


@dataclass(frozen=True)
class Incoming:
    branch: str
    leaf: str
    message: _In
    raw: dict[str, Any]


def split_topic(topic: str, prefix: str) -> tuple[str, str]:
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != prefix or parts[2] not in LEAVES:
        raise Malformed("topic", f"unexpected topic {topic[:200]!r}")
    if not _BRANCH.match(parts[1]):
        raise Malformed("topic", f"branch {parts[1][:80]!r} is not a valid branch id")
    return parts[1], parts[2]


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(message)"
    return f"{where}: {error['msg']}"


def parse(topic: str, payload: bytes, prefix: str) -> Incoming:
    """The checked message on `topic`, or Malformed naming the first problem."""
    branch, leaf = split_topic(topic, prefix)
    if len(payload) > MAX_MESSAGE_BYTES:
        raise Malformed("too_big", f"{len(payload)} bytes on {topic}, over {MAX_MESSAGE_BYTES}")
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise Malformed("not_json", f"{topic}: not JSON ({str(exc)[:120]})") from None
    if not isinstance(raw, dict):
        raise Malformed("not_object", f"{topic}: not a JSON object")
    if raw.get("v") != FORMAT:
        raise Malformed(
            "format", f"{topic}: format version {str(raw.get('v'))[:20]!r}, the console reads {FORMAT}"
        )
    try:
        message = MODELS[leaf].model_validate(raw)
    except ValidationError as exc:
        raise Malformed("invalid", f"{topic}: {_first_problem(exc)}") from None
    if message.branch != branch:
        raise Malformed("wrong_branch", f"{topic}: says it is from branch {message.branch!r}")
    if isinstance(message, EventIn) and not message.id.startswith(f"{branch}/"):
        raise Malformed("invalid", f"{topic}: event id {message.id[:80]!r} is not <branch>/<id>")
    return Incoming(branch, leaf, message, raw)
