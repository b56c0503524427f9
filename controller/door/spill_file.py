"""The event writer's spill file: one JSON line per write the database could not take yet.

Why a module of its own: the format (and its one parser, `from_json`) is what a run leaves for
the next one to write back, so it is kept apart from the writer's threading.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from controller.domain.events import Event, EventType
from controller.store.pin_failures import PinFailures

log = logging.getLogger(__name__)

Write = Event | PinFailures


def to_json(item: Write) -> str:
    if isinstance(item, Event):
        fields = asdict(item) | {"type": item.type.value, "at": item.at.isoformat()}
        fields.pop("id")
        return json.dumps({"kind": "event", **fields})
    return json.dumps(
        {
            "kind": "pin_failures",
            "member_id": item.member_id,
            "failures": item.failures,
            "lockouts": item.lockouts,
            "locked_until": item.locked_until.isoformat() if item.locked_until else None,
        }
    )


def from_json(line: str) -> Write:
    data = json.loads(line)
    kind = data.pop("kind")
    if kind == "event":
        return Event(**{**data, "type": EventType(data["type"]), "at": datetime.fromisoformat(data["at"])})
    if kind == "pin_failures":
        until = data["locked_until"]
        return PinFailures(
            int(data["member_id"]),
            int(data["failures"]),
            datetime.fromisoformat(until) if until else None,
            int(data.get("lockouts", 0)),
        )  # absent in files spilled before schema 6
    raise ValueError(f"unknown spilled write kind {kind!r}")


def read_spilled(path: Path) -> list[Write]:
    """A spill file's writes in file order; an unreadable line (torn by a crash) is skipped."""
    items: list[Write] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(from_json(line))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("%s line %d unreadable (%s); skipped", path, number, exc)
    return items
