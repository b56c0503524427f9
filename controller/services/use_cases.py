"""Where every admin use case is built: the one place the API, the pages and the CLI get them.

Each adapter (controller/api, controller/web, controller/cli, and later the library-system
link or a fleet adapter) parses its input, asks here for the use case, calls one method and
renders the answer; none of them assembles a MemberAdmin or a UserAdmin itself. So a rule or
an audit line added to a use case reaches every way in at once: the copies of MemberAdmin's
assembly in three adapters had already drifted apart before they were brought here
(tests/test_use_cases.py keeps the constructors in this module).

  members        member_admin(runtime, conn): add, block, PIN, remove, CSV import
  users          user_admin(runtime, conn, passwords): users, tokens, sign-in; create_user
  schedule       controller.services.schedule.replace_schedule (saving), mode_outlook (the
                 mode now and its next change, as the API, Today and the schedule page show)
  footage        footage_service(runtime): clips, keep marks (the web side's; the door
                 process builds its own recording one from the same settings)
  door commands  the running door itself (a remote unlock is audited by the door loop):
                 controller.http.services.DoorControl
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from controller.config.settings import Settings
from controller.domain.schedule import Schedule
from controller.domain.timeline import ModeChange, ModeNow, mode_at, next_change
from controller.services.members import MemberAdmin
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.users import UserAdmin
from controller.store.users import User, UserStore

if TYPE_CHECKING:  # imported when built: it loads OpenCV, which no CLI member command needs
    from controller.services.footage import FootageService


def member_admin(runtime: Runtime, conn: sqlite3.Connection) -> MemberAdmin:
    """Member-list changes on one connection of an opened runtime, audited for this door."""
    return MemberAdmin(
        runtime.members(conn), runtime.events(conn), runtime.clock, runtime.settings.branch.door
    )


def user_admin(runtime: Runtime, conn: sqlite3.Connection, passwords: Passwords) -> UserAdmin:
    """User, token and sign-in use cases on one connection of an opened runtime."""
    return UserAdmin(
        UserStore(conn), runtime.events(conn), runtime.clock, runtime.settings.branch.door, passwords, conn
    )


def create_user(
    runtime: Runtime,
    username: str,
    password: str,
    roles: Iterable[str],
    actor: str,
    passwords: Passwords | None = None,
) -> User:
    """For the CLI: add a user (e.g. the first admin); audited as ADMIN_CHANGE by `actor`.

    Raises UserInputError (bad name, short password, unknown role) or UserError (name taken).
    """
    with closing(runtime.connection()) as conn:
        return user_admin(runtime, conn, passwords or Passwords()).create(username, password, roles, actor)


def footage_dir(settings: Settings) -> Path:
    """Where the camera's footage lives: camera.footage_dir, else `footage` in the data dir."""
    return settings.camera.footage_dir or settings.data_dir / "footage"


def footage_service(runtime: Runtime) -> FootageService:
    """The footage service (not started) on the runtime's database and clock: the web side
    only looks clips up and sets keep marks with it; the door process starts its own."""
    from controller.services.footage import FootageService

    settings = runtime.settings
    return FootageService(
        settings.camera, footage_dir(settings), runtime.connection, settings.branch.door, runtime.clock
    )


@dataclass(frozen=True)
class ModeOutlook:
    """The door mode a schedule gives at `at`, why and since when, and its next change
    (None: no change within the search horizon)."""

    at: datetime
    current: ModeNow
    next: ModeChange | None


def mode_outlook(schedule: Schedule, now: datetime) -> ModeOutlook:
    """The mode now and what comes next: what GET /mode, the Today page and the schedule
    page all show, worked out in this one place."""
    return ModeOutlook(at=now, current=mode_at(schedule, now), next=next_change(schedule, now))
