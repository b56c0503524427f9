"""One service layer (issue 12): each admin use case is built in controller/services/use_cases.py
and the API, the pages and the CLI all take it from there; what they print or show of the
same thing comes from one function."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from controller.cli.main import build_parser
from controller.domain.clock import local_date
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.domain.roles import Role
from controller.domain.schedule import parse_schedule
from controller.domain.timeline import mode_at, next_change
from controller.services.demo import DEMO_CARDS, demo_card_lines, demo_members
from controller.services.events import event_line
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime
from controller.services.use_cases import footage_dir, footage_service, member_admin, mode_outlook
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parent.parent
FACTORY = Path("controller/services/use_cases.py")
# A use case built anywhere but the factory: a call of the class, not its definition.
BUILT = re.compile(r"(?<!class )\b(MemberAdmin|UserAdmin|FootageService)\(")


def constructions(source: str) -> list[str]:
    return [match.group(1) for match in BUILT.finditer(source)]


def test_the_use_cases_are_built_only_in_the_factory_module() -> None:
    elsewhere = {
        str(path.relative_to(ROOT)): found
        for path in (ROOT / "controller").rglob("*.py")
        if path.relative_to(ROOT) != FACTORY and (found := constructions(path.read_text(encoding="utf-8")))
    }
    assert elsewhere == {}
    built = set(constructions((ROOT / FACTORY).read_text(encoding="utf-8")))
    assert built == {"MemberAdmin", "UserAdmin", "FootageService"}


def test_the_construction_check_sees_a_call_and_not_a_class_statement() -> None:
    assert constructions("admin = MemberAdmin(store, log, clock, door)") == ["MemberAdmin"]
    assert constructions("class UserAdmin(Base):\n    pass") == []
    assert constructions("def _admin() -> MemberAdmin:") == []


def test_member_admin_audits_for_the_configured_door(runtime: Runtime) -> None:
    with closing(runtime.connection()) as conn:
        admin = member_admin(runtime, conn)
        assert isinstance(admin, MemberAdmin)
        admin.add(demo_members(1, local_date(runtime.clock()))[0], "cli:test")
        events = runtime.events(conn).query(limit=5)
    assert [(e.type, e.actor, e.door) for e in events] == [
        (EventType.ADMIN_CHANGE, "cli:test", runtime.settings.branch.door)
    ]


def test_the_footage_service_of_the_web_and_the_door_side_uses_one_directory(runtime: Runtime) -> None:
    footage = footage_service(runtime)
    assert footage.footage_dir == footage_dir(runtime.settings)
    assert footage_dir(runtime.settings) == runtime.settings.data_dir / "footage"


def test_mode_outlook_is_the_mode_now_and_its_next_change(clock: FakeClock) -> None:
    # The clock fixture's Wednesday 21:30 local: in Open+ hours, closing at 22:00.
    schedule = parse_schedule(
        {"weekly": {"wednesday": [{"start": "08:00", "end": "22:00", "kind": "openplus"}]}}
    )
    now = clock()
    outlook = mode_outlook(schedule, now)
    assert outlook.at == now
    assert outlook.current == mode_at(schedule, now)
    assert outlook.next == next_change(schedule, now)
    assert outlook.current.mode is DoorMode.OPENPLUS and outlook.next is not None
    assert outlook.next.mode is DoorMode.CLOSED


def test_cli_and_simulator_print_an_event_the_same_way(clock: FakeClock) -> None:
    event = Event(
        type=EventType.ACCESS_REFUSED,
        at=clock(),
        door="entrance",
        reason="blocked",
        member_ref="P00042",
        card_hint="…0002",
    )
    line = event_line(event)
    assert "P00042" in line and "…0002" in line and "access_refused" in line
    later = Event(
        type=EventType.ADMIN_CHANGE,
        at=clock() + timedelta(minutes=1),
        door="entrance",
        reason="member blocked",
        actor="cli:anna",
        detail="P00042 until=unblocked",
    )
    assert "cli:anna" in event_line(later) and event_line(later).endswith("until=unblocked")


def test_demo_card_lines_name_every_demo_card() -> None:
    lines = demo_card_lines()
    assert len(lines) == len(DEMO_CARDS)
    assert all(
        card in line and what in line for line, (card, what) in zip(lines, DEMO_CARDS.items(), strict=True)
    )


def test_the_cli_offers_exactly_the_enums_values() -> None:
    """--mode and --role choices come from DoorMode and Role, not a copied list."""
    parser = build_parser()
    for mode in DoorMode:
        assert parser.parse_args(["decide", "--card", "1", "--mode", mode.value]).mode == mode.value
    assert parser.parse_args(["simulate", "--mode", "schedule"]).mode == "schedule"
    for role in Role:
        assert parser.parse_args(["users", "add", "u", "--role", role.value]).role == [role.value]
