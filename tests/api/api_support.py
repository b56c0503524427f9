"""Builders for the admin API tests: an app on a data directory, a door double, role tokens.

The door double stands in for the door loop only (the API's one outside collaborator);
everything else (SQLite, MemberAdmin, argon2, the schedule code) is the real thing.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.config.settings import CameraSettings
from controller.domain.events import DoorAlarm
from controller.domain.messages import PROMPT_CARD
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.door.ports import DoorSnapshot, Phase
from controller.http.services import ApiServices, DoorUnavailable, LoopHealth
from controller.services.footage import FootageService
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from controller.services.users import Role

# argon2id at the cheapest sane cost: the algorithm is real, the tests stay fast.
CHEAP_PASSWORDS = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
ROLE_USERS = {"admin": Role.ADMIN, "manny": Role.MANAGER, "sec": Role.SECURITY}
PASSWORD = "correct horse battery"


@dataclass
class StubDoor:
    """A door double: a fixed snapshot, a loop last turned `last_turn_age` s ago, and a list
    of remote unlocks asked for."""

    clock: object
    running: bool = True
    last_turn_age: float = 0.1
    unlocks: list[str] = field(default_factory=list)
    alarm: DoorAlarm | None = None
    report: dict = field(default_factory=dict)  # what metrics() answers (DoorMetrics.report)
    loop_alive: bool = True  # the door process answers; is its door loop's thread running?

    def snapshot(self) -> DoorSnapshot | None:
        if not self.running:
            return None
        return DoorSnapshot(
            mode=DoorMode.OPENPLUS,
            phase=Phase.IDLE,
            relay_unlocked=False,
            door_open=self.alarm is not None,
            alarm=self.alarm,
            message=PROMPT_CARD,
            pin_keys=0,
            at=self.clock(),
        )  # type: ignore[operator]

    def loop_health(self) -> LoopHealth:
        if not self.running:
            raise DoorUnavailable("the door is not running")
        return LoopHealth(alive=self.loop_alive, last_turn_age=self.last_turn_age)

    def remote_unlock(self, actor: str) -> None:
        if not self.running:
            raise DoorUnavailable("the door is not running")
        self.unlocks.append(actor)

    def metrics(self) -> dict:
        if not self.running:
            raise DoorUnavailable("the door is not running")
        return self.report


@dataclass
class Api:
    """One app under test and what it talks to."""

    client: TestClient
    services: ApiServices
    door: StubDoor
    schedule_changes: list[Schedule]
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def build_api(runtime: Runtime, passwords: Passwords | None = None) -> Api:
    """An app on `runtime`; creates the role users and a token each if they don't exist."""
    passwords = passwords or Passwords(CHEAP_PASSWORDS)
    door = StubDoor(runtime.clock)
    changes: list[Schedule] = []
    footage = FootageService(
        CameraSettings(), runtime.settings.data_dir / "footage", runtime.connection, "entrance", runtime.clock
    )
    services = ApiServices(
        runtime=runtime, door=door, schedule_changed=changes.append, passwords=passwords, footage=footage
    )
    tokens = {}
    with closing(runtime.connection()) as conn:
        admin = user_admin(runtime, conn, passwords)
        for name, role in ROLE_USERS.items():
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (name,)).fetchone() is None:
                admin.create(name, PASSWORD, [role], "test:setup")
            tokens[name] = admin.create_token(name, "tests", "test:setup", None).secret
    return Api(TestClient(create_app(services)), services, door, changes, tokens)


def events_of(runtime: Runtime, sql_where: str = "1=1", params: tuple = ()) -> list[dict]:
    with closing(runtime.connection()) as conn:
        return [
            dict(row) for row in conn.execute(f"SELECT * FROM events WHERE {sql_where} ORDER BY id", params)
        ]


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
