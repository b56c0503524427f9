"""The door's state as a small JSON file, replaced atomically on each change.

Other processes read it: the simulator's tests check from outside that the relay ended
locked, and `relay-off` (systemd's ExecStopPost) marks the door locked after any stop.
It never holds a card number or a PIN.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # relay-off imports this module and must not pull in the door and pydantic
    from controller.door.ports import DoorSnapshot

STATE_FILE = "door-state.json"


class StateFile:
    """Writes a DoorSnapshot when something a person would notice has changed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._last: dict[str, Any] | None = None

    def write(self, snapshot: DoorSnapshot) -> None:
        state = {
            "mode": snapshot.mode.value,
            "phase": snapshot.phase.value,
            "relay_unlocked": snapshot.relay_unlocked,
            "door_open": snapshot.door_open,
            "alarm": snapshot.alarm.value if snapshot.alarm else None,
            "message_nl": snapshot.message.nl,
            "message_en": snapshot.message.en,
            "pin_keys": snapshot.pin_keys,
        }
        if state != self._last:
            self._last = state
            self.replace({**state, "at": snapshot.at.isoformat()})

    def replace(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
