"""Sending a command: checked, one signed envelope per target branch, stored in one transaction.

The envelope and the signature are the branch's own code (controller/services/fleet/commands.py:
new_envelope, sign, encode): one format, one signer. All targets share the command's id and its
version (the console's counter, one up per command across kinds), so an ack names it exactly.
Publishing is the link's job (it is woken after the commit); a broker that is down holds nothing
up here, and the command goes out when it is back.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.config.fleet import TOPIC_PART
from controller.domain.clock import Clock
from controller.domain.events import Event, EventType
from controller.services.fleet.commands import KINDS, body_problem, encode, lifetime_of, new_envelope, sign
from controller.store.db import transaction
from controller.store.events import EventLog
from fleet_console.store.commands import CommandStore

MAX_TARGETS = 500  # more than any organisation's branches; bounds one form or API call
_BRANCH = re.compile(TOPIC_PART)


class SendRefused(ValueError):
    """The command cannot be sent as asked; the message says why (shown on the page)."""


def checked_targets(targets: Iterable[str]) -> list[str]:
    wanted: list[str] = []
    for branch in targets:
        if not _BRANCH.match(branch):
            raise SendRefused(f"{branch[:80]!r} is not a branch id")
        if branch not in wanted:
            wanted.append(branch)
        if len(wanted) > MAX_TARGETS:
            raise SendRefused(f"at most {MAX_TARGETS} branches per command")
    if not wanted:
        raise SendRefused("choose at least one branch")
    return wanted


def send_command(
    conn: sqlite3.Connection,
    clock: Clock,
    key: Ed25519PrivateKey | None,
    *,
    kind: str,
    body: dict[str, Any],
    targets: Iterable[str],
    by: str,
    console: str = "console",
) -> str:
    """Store the signed envelopes for every target; the command's id."""
    if key is None:
        raise SendRefused("no fleet key: set [console] key_file in the console's configuration")
    if kind not in KINDS:
        raise SendRefused(f"unknown kind {kind!r}")
    problem = body_problem(kind, body)
    if problem:
        raise SendRefused(f"{kind}: {problem}")
    branches = checked_targets(targets)
    command_id = uuid.uuid4().hex
    now = clock()
    with transaction(conn):
        store = CommandStore(conn)
        version = store.next_version()
        payloads = {
            branch: encode(
                sign(new_envelope(kind, branch, version, by, body, now, command_id=command_id), key)
            ).decode()
            for branch in branches
        }
        store.add(command_id, kind, version, by, body, now, now + lifetime_of(kind), payloads)
        EventLog(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=now,
                door=console,
                reason="fleet command sent",
                actor=f"console:{by}",
                detail=f"id={command_id} kind={kind} version={version} branches={len(branches)}",
            )
        )
    return command_id
