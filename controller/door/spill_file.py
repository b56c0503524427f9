"""The event writer's spill file: one JSON line per write the database could not take yet.

Why a module of its own: the format (and its one parser, `from_json`) is what a run leaves for
the next one to write back, so it is kept apart from the writer's threading.

Each line carries the write's sequence number ("seq"), given when the door handed it in: the
writer spills from several paths (the overflow at each retry, the batch it was retrying, the
queue at stop, a refused batch), so the file's order is not the one handed in; the number is.
Lines are read back sorted by it; lines without one (files of older versions) come first, in
file order. A file that cannot be written back is renamed aside (`set_aside_path`), never
deleted: a person can read its events, and no start takes its counts for newer ones.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from controller.domain.events import Event, EventType
from controller.store.pin_failures import PinFailures

log = logging.getLogger(__name__)

Write = Event | PinFailures
Numbered = tuple[int, Write]  # a write and its place in the one order (the writer's count)
Line = tuple[int | None, Write]  # as read back: None from a file without sequence numbers


def to_json(seq: int, item: Write) -> str:
    if isinstance(item, Event):
        fields = asdict(item) | {"type": item.type.value, "at": item.at.isoformat()}
        fields.pop("id")
        return json.dumps({"kind": "event", "seq": seq, **fields})
    return json.dumps(
        {
            "kind": "pin_failures",
            "seq": seq,
            "member_id": item.member_id,
            "failures": item.failures,
            "lockouts": item.lockouts,
            "locked_until": item.locked_until.isoformat() if item.locked_until else None,
        }
    )


def append(path: Path, items: list[Numbered]) -> None:
    """Add the writes to the file, synced: once this returns they outlive a power cut."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(to_json(seq, item) + "\n" for seq, item in items)
        handle.flush()
        os.fsync(handle.fileno())


def from_json(line: str) -> Line:
    data = json.loads(line)
    kind, number = data.pop("kind"), data.pop("seq", None)
    seq = None if number is None else int(number)
    if kind == "event":
        return seq, Event(
            **{**data, "type": EventType(data["type"]), "at": datetime.fromisoformat(data["at"])}
        )
    if kind == "pin_failures":
        until = data["locked_until"]
        return seq, PinFailures(
            int(data["member_id"]),
            int(data["failures"]),
            datetime.fromisoformat(until) if until else None,
            int(data.get("lockouts", 0)),
        )  # absent in files spilled before schema 6
    raise ValueError(f"unknown spilled write kind {kind!r}")


def read_spilled(path: Path) -> list[Line]:
    """A spill file's writes in file order (see `in_order`); OSError if it cannot be read. A
    line that cannot be read (torn by a crash, or a corrupt byte) is skipped: one bad line must
    not cost the file's other writes."""
    lines: list[Line] = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(from_json(raw.decode("utf-8")))
        except (ValueError, TypeError, KeyError) as exc:  # UnicodeDecodeError is a ValueError
            log.warning("%s line %d unreadable (%s); skipped", path, number, exc)
    return lines


def in_order(lines: list[Line]) -> list[Write]:
    """The writes in the order handed in: by sequence number, those without one first (stable)."""
    return [item for _, item in sorted(lines, key=lambda line: -1 if line[0] is None else line[0])]


def read_in_order(*paths: Path) -> list[Write]:
    """The writes of these files (the older file first) in the order handed in. A file that
    cannot be read is logged and left out (the writer sets it aside at its write-back)."""
    lines: list[Line] = []
    for path in paths:
        try:
            lines += read_spilled(path) if path.exists() else []
        except OSError:
            log.exception("could not read the writes spilled to %s", path)
    return in_order(lines)


def last_seq(*paths: Path) -> int:
    """The highest sequence number in these files (0: none), so a new run numbers on after the
    writes the last one left in them and appends to them in order. Unreadable: ignored (the
    writer sets such a file aside, so nothing is ordered against it)."""
    highest = 0
    for path in paths:
        try:
            lines = read_spilled(path) if path.exists() else []
        except OSError:
            continue
        highest = max([highest, *(seq for seq, _ in lines if seq is not None)])
    return highest


def set_aside_path(spill_path: Path, now: datetime) -> Path:
    """Where a spill file that cannot be written back goes: beside it, named for the moment
    (UTC), and never over an earlier one (two files can be set aside within one second)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem, suffix = spill_path.stem, spill_path.suffix
    aside, n = spill_path.with_name(f"{stem}.unwritable-{stamp}{suffix}"), 1
    while aside.exists():
        n += 1
        aside = spill_path.with_name(f"{stem}.unwritable-{stamp}-{n}{suffix}")
    return aside
