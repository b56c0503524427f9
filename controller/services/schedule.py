"""Saving the branch's schedule: stored with its audit event, then the running door told.

One use case for the API, the pages (and any later adapter): what was saved and whether
the door took it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from controller.domain.events import Event, EventType
from controller.domain.schedule import Schedule
from controller.services.runtime import Runtime
from controller.store.db import transaction
from controller.store.events import EventLog
from controller.store.schedule import ScheduleStore, StoredSchedule

log = logging.getLogger(__name__)


def replace_schedule(
    runtime: Runtime,
    conn: sqlite3.Connection,
    schedule: Schedule,
    actor: str,
    schedule_changed: Callable[[Schedule], None],
) -> tuple[StoredSchedule, bool]:
    """Store a validated schedule with its audit event, then tell the running door.

    Returns what was stored and whether the door took it (if not, the next edge or a
    restart applies it). The API and the pages both save through here.
    """
    now = runtime.clock()
    with transaction(conn):
        stored = ScheduleStore(conn).save(schedule, now, actor)
        EventLog(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=now,
                door=runtime.settings.branch.door,
                reason="schedule replaced",
                actor=actor,
                detail=_summary(schedule),
            )
        )
    try:
        schedule_changed(schedule)
    except Exception:
        log.exception("schedule stored, but the running door could not be told")
        return stored, False
    return stored, True


def _summary(schedule: Schedule) -> str:
    windows = sum(len(windows) for windows in schedule.weekly.model_dump().values())
    return (
        f"weekly_windows={windows} exceptions={len(schedule.exceptions)} "
        f"holidays_closed={len(schedule.holidays_closed)}"
    )
