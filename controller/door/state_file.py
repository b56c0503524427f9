"""The door's state as a small JSON file, replaced atomically on each change.

Other processes read it: the simulator's tests check from outside that the relay ended
locked, and `relay-off` (systemd's ExecStopPost) marks the door locked after any stop.
It never holds a card number or a PIN.

It also keeps the people counter's tally ("count": inside, in, out, since when, the mode it
was counted in, a closing round under way, and when it was last written), so a restart (a
crash, a power blip, an update) resumes the count instead of starting at 0 with a member
inside (controller.door.occupancy decides whether the saved count still holds). Like the rest
of the state, the door thread never writes it: the door posts its snapshot and the observer
thread (controller.door.observers) writes the file, tmp file then os.replace, so a power cut
leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # relay-off imports this module and must not pull in the door and pydantic
    from controller.door.ports import DoorSnapshot, OccupancyCount

STATE_FILE = "door-state.json"


@dataclass(frozen=True)
class SavedCount:
    """The count a previous run of the door kept, and when it last wrote it."""

    count: OccupancyCount
    at: datetime


@dataclass(frozen=True)
class NoSavedCount:
    """Why there is no count to resume; `corrupt`: the file or its count could not be read."""

    why: str
    corrupt: bool = False


class StateFile:
    """Writes a DoorSnapshot when something a person would notice has changed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._last: dict[str, Any] | None = None

    def write(self, snapshot: DoorSnapshot) -> None:
        count = snapshot.count
        tally: dict[str, Any] | None = None
        if count is not None:
            tally = {
                "mode": count.mode.value,
                "inside": count.inside,
                "in": count.came_in,
                "out": count.went_out,
                "since": count.since.isoformat(),
                "closing_round": count.closing_round,
            }
        state = {
            "mode": snapshot.mode.value,
            "phase": snapshot.phase.value,
            "relay_unlocked": snapshot.relay_unlocked,
            "door_open": snapshot.door_open,
            "alarm": snapshot.alarm.value if snapshot.alarm else None,
            "message_nl": snapshot.message.nl,
            "message_en": snapshot.message.en,
            "pin_keys": snapshot.pin_keys,
            "count": tally,
        }
        if state != self._last:
            self._last = state
            at = snapshot.at.isoformat()
            # The count keeps its own time: relay-off rewrites "at" when it marks the door stopped.
            self.replace({**state, "count": tally and {**tally, "at": at}, "at": at})

    def replace(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def saved_count(self) -> SavedCount | NoSavedCount:
        """The count the last run kept; never raises (a bad file is a NoSavedCount that says
        what is wrong with it, and the door starts at 0)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return NoSavedCount(f"no state file {self.path} (a first start)")
        except OSError as exc:
            return NoSavedCount(f"state file {self.path} unreadable ({exc})", corrupt=True)
        try:
            state = json.loads(text)
            saved = state.get("count") if isinstance(state, dict) else None
            if saved is None:
                return NoSavedCount(f"state file {self.path} keeps no count (no counter before)")
            return _parse_count(saved)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            return NoSavedCount(f"state file {self.path} has no readable count ({problem})", corrupt=True)


def _parse_count(saved: dict[str, Any]) -> SavedCount:
    """The "count" object as written by StateFile.write; ValueError naming the first field
    that is missing or wrong."""
    from controller.domain.modes import DoorMode
    from controller.door.ports import OccupancyCount  # the door's own type: not for relay-off

    def field(key: str) -> Any:
        if key not in saved:
            raise ValueError(f"'{key}' missing")
        return saved[key]

    def number(key: str) -> int:
        value = field(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"'{key}' is {value!r}, not a count")
        return value

    def moment(key: str) -> datetime:
        value = datetime.fromisoformat(field(key))
        if value.tzinfo is None:
            raise ValueError(f"'{key}' is a time without a zone")
        return value

    def flag(key: str) -> bool:
        value = field(key)
        if not isinstance(value, bool):
            raise ValueError(f"'{key}' is {value!r}, not true or false")
        return value

    count = OccupancyCount(
        mode=DoorMode(field("mode")),
        inside=number("inside"),
        came_in=number("in"),
        went_out=number("out"),
        since=moment("since"),
        closing_round=flag("closing_round"),
    )
    return SavedCount(count, moment("at"))
