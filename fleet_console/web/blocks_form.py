"""The shared block list as the console edits it: one block a line, `patron; until; reason`.

`until` is YYYY-MM-DD or empty (until lifted). Bounded: at most MAX_BLOCKS lines of at most
MAX_LINE characters; every problem names its line."""

from __future__ import annotations

from datetime import date
from typing import Any

MAX_BLOCKS = 5000
MAX_LINE = 300
MAX_PATRON = 64


class BlocksInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_blocks(text: str) -> list[dict[str, Any]]:
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if len(lines) > MAX_BLOCKS:
        raise BlocksInvalid([f"{len(lines)} blocks: at most {MAX_BLOCKS}"])
    blocks, problems, seen = [], [], set()
    for n, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE:
            problems.append(f"line {n}: longer than {MAX_LINE} characters")
            continue
        patron, _, rest = (part.strip() for part in line.partition(";"))
        until, _, reason = (part.strip() for part in rest.partition(";"))
        if not patron or len(patron) > MAX_PATRON or not patron.isprintable():
            problems.append(f"line {n}: no patron id (or longer than {MAX_PATRON})")
            continue
        if patron in seen:
            problems.append(f"line {n}: patron {patron} is listed twice")
            continue
        if until:
            try:
                date.fromisoformat(until)
            except ValueError:
                problems.append(f"line {n}: until {until!r} is not YYYY-MM-DD")
                continue
        seen.add(patron)
        blocks.append({"patron": patron, "reason": reason, "until": until or None})
    if problems:
        raise BlocksInvalid(problems[:20])
    return blocks


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(f"{b['patron']}; {b.get('until') or ''}; {b.get('reason') or ''}" for b in blocks)
