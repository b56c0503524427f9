"""A manager's manual output switches, kept in a small JSON file so a restart keeps them.

A manager who turns the hall lights on for an evening event is told "until <next switch>";
a restart of the door process (an update, a power cut, the watchdog) must not turn them off
before that. Why a file of its own in the data directory, not the events table: the runner
owns the states and writes them where it changes them, on its own threads (the door link's,
the timers'), without a database connection or the event writer's queue between it and the
next start; reading it back at start needs no database either, so the pins can be built in
their restored state before anything else runs. The output_switched events stay the audit.

Each write is the whole file (a few hundred bytes): written beside, fsynced, renamed over the
old one and the directory fsynced, so a power cut leaves the old file or the new one, never
half of one. Nothing here runs on the door thread, and no error here stops the door: a file
that cannot be read is logged and the outputs follow the schedule; one that cannot be written
is logged and the switch still holds until the process ends.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.domain.clock import format_local
from controller.domain.outputs import ManualState
from controller.services.file_swap import fsync_dir, new_file

log = logging.getLogger(__name__)

MANUAL_FILE = "outputs-manual.json"
VERSION = 1


class ManualStore:
    """Reads the manual states once at start and rewrites the file when they change."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._written: dict[str, ManualState] | None = None  # what the file holds; None: not known
        self._lock = threading.Lock()

    def load(self, names: Collection[str], now: datetime) -> dict[str, ManualState]:
        """The states that still hold at `now`, for outputs in `names`; never raises (a bad
        file is one log line and no states)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._written = {}
            return {}
        except OSError as exc:
            log.warning("manual output switches not restored: %s unreadable (%s)", self.path, exc)
            return {}
        try:
            saved = _parse(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning(
                "manual output switches not restored: %s is corrupt (%s: %s); the schedule leads",
                self.path,
                type(exc).__name__,
                exc,
            )
            return {}
        self._written = saved
        restored: dict[str, ManualState] = {}
        for name, state in saved.items():
            what = f"output {name}: manual {'on' if state.on else 'off'} by {state.actor}"
            if name not in names:
                log.warning("%s not restored: no such output in the config now", what)
            elif not state.holds_at(now):
                log.info("%s not restored: it held until %s", what, _when(state.until))
            else:
                log.info("%s restored, until %s", what, _when(state.until))
                restored[name] = state
        return restored

    def save(self, states: Mapping[str, ManualState]) -> None:
        """Replace the file with `states` if they differ from what it holds; never raises."""
        with self._lock:
            if self._written == states:
                return
            data = {"version": VERSION, "manual": {name: _dump(s) for name, s in states.items()}}
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            try:
                with new_file(tmp) as handle:
                    handle.write(json.dumps(data, indent=1).encode("utf-8"))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
                fsync_dir(self.path.parent)
            except OSError as exc:
                self._written = None  # try again at the next change
                log.warning(
                    "manual output switches not kept in %s (%s): a restart forgets them", self.path, exc
                )
                return
            self._written = dict(states)


def _when(moment: datetime | None) -> str:
    return format_local(moment) if moment is not None else '"auto"'


def _dump(state: ManualState) -> dict[str, Any]:
    return {
        "on": state.on,
        "since": state.since.isoformat(),
        "until": state.until.isoformat() if state.until is not None else None,
        "actor": state.actor,
    }


def _parse(data: Any) -> dict[str, ManualState]:
    """The file's states by output name; ValueError naming what is wrong."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} file")
    manual = data["manual"]
    if not isinstance(manual, dict):
        raise ValueError("'manual' is not an object")
    return {str(name): _state(name, entry) for name, entry in manual.items()}


def _state(name: str, entry: dict[str, Any]) -> ManualState:
    def moment(key: str) -> datetime:
        value = datetime.fromisoformat(entry[key])
        if value.tzinfo is None:
            raise ValueError(f"{name}: '{key}' is a time without a zone")
        return value

    if not isinstance(entry["on"], bool) or not isinstance(entry["actor"], str):
        raise ValueError(f"{name}: 'on' or 'actor' of the wrong type")
    until = moment("until") if entry["until"] is not None else None
    return ManualState(entry["on"], moment("since"), until, entry["actor"])
