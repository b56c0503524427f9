"""A patron on the fleet's shared block list who joins a branch after the list arrived is
blocked on joining (issue 17), whichever way they join: the member import, a manager's add
on the API, the fleet's own `members` command. With [lms], a card the library system accepts
for a patron on the list is refused at the door though the local list does not know it.

The lists are applied through the real command handler (signed, as from the console); the
LMS test asks the real pysip2 server (tests/lms's fixture) through the gate the door opens."""

from __future__ import annotations

import queue
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.config.settings import parse_settings
from controller.domain.clock import local_date
from controller.domain.decision import Reason
from controller.domain.eligibility import EligibilityRules
from controller.domain.events import Event
from controller.domain.modes import DoorMode
from controller.services.access import Authorizer
from controller.services.fleet.apply import DoorHooks
from controller.services.fleet.apply_handler import CommandHandler
from controller.services.fleet.commands import encode, new_envelope, sign
from controller.services.fleet.messages import Topics
from controller.services.lms import LmsAnswer, LmsQuestion
from controller.services.lms_access import LmsDecider, decided_by_of, open_lms_gate
from controller.services.offline_policy import DecidedBy
from controller.services.runtime import Runtime
from controller.services.use_cases import member_admin
from controller.sim.lms_server import RunningServer
from controller.store.fleet_commands import FleetApplied, ListedBlock
from tests.api.api_support import build_api
from tests.conftest import FakeClock
from tests.helpers import csv_file, csv_line
from tests.lms.conftest import HANG_GUARD
from tests.lms.conftest import lms as lms  # the real pysip2 server fixture, reused

KEY = Ed25519PrivateKey.generate()
BRANCH = "assen"
LENT_CARD = {"patron": "P00002", "reason": "lent card", "until": "2027-03-01"}
LMS_GOOD, LMS_FINES = "29990000000001", "29990000000005"  # the demo LMS's cards (PIN 1234, 5678)


@pytest.fixture
def conn(runtime: Runtime) -> Iterator[sqlite3.Connection]:
    with closing(runtime.connection()) as connection:
        yield connection


def apply_command(
    runtime: Runtime, clock: FakeClock, conn: sqlite3.Connection, kind: str, body: dict, version: int
) -> None:
    hooks = DoorHooks(lambda schedule: None, lambda actor: None, None)
    handler = CommandHandler(runtime, Topics("openplus", BRANCH), KEY.public_key(), hooks, clock)
    payload = encode(sign(new_envelope(kind, BRANCH, version, "anna", body, clock()), KEY))
    outcome = handler.handle(conn, payload)
    assert outcome.applied, outcome.reason


def send_list(
    runtime: Runtime, clock: FakeClock, conn: sqlite3.Connection, *rows: dict, version: int = 1
) -> None:
    apply_command(runtime, clock, conn, "blocks", {"blocks": list(rows)}, version)


def block_of(
    runtime: Runtime, conn: sqlite3.Connection, patron_id: str
) -> tuple[bool, date | None, str | None]:
    member = runtime.members(conn).get(patron_id)
    assert member is not None, f"{patron_id} is not on the list"
    return member.entry_blocked, member.blocked_until, member.block_note


def join_audit(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [
        (row[0], row[1])
        for row in conn.execute(
            "SELECT actor, detail FROM events WHERE reason = 'member blocked' AND detail LIKE '%on joining%' ORDER BY id"
        )
    ]


def test_the_nightly_import_blocks_a_patron_on_the_shared_list(runtime, clock, conn) -> None:
    admin = member_admin(runtime, conn)
    admin.import_csv(csv_file(csv_line(1)), "cli:nightly")
    send_list(runtime, clock, conn, LENT_CARD, version=4)  # P00002 is not a member here yet
    assert runtime.members(conn).get("P00002") is None

    counts = admin.import_csv(csv_file(csv_line(1), csv_line(2)), "cli:nightly")

    assert counts.added == 1
    assert block_of(runtime, conn, "P00002") == (True, date(2027, 3, 1), "lent card")
    assert block_of(runtime, conn, "P00001")[0] is False
    assert FleetApplied(conn).fleet_blocked() == {"P00002"}  # the next list may lift it
    [(actor, detail)] = join_audit(conn)
    assert actor == "fleet:blocks v4"
    assert detail.startswith("P00002 until=2027-03-01 note=yes on joining: fleet blocks version 4 id ")


def test_a_file_with_a_block_column_does_not_lift_a_block_from_the_list(runtime, clock, conn) -> None:
    admin = member_admin(runtime, conn)
    admin.import_csv(csv_file(csv_line(2)), "cli:nightly")
    send_list(runtime, clock, conn, LENT_CARD)
    assert block_of(runtime, conn, "P00002")[0] is True

    admin.import_csv(csv_file(csv_line(2, name="Renamed")), "cli:nightly")  # blocked=nee

    assert block_of(runtime, conn, "P00002") == (True, date(2027, 3, 1), "lent card")


def test_a_managers_unblock_after_joining_still_wins(runtime, clock, conn) -> None:
    admin = member_admin(runtime, conn)
    send_list(runtime, clock, conn, LENT_CARD)
    admin.import_csv(csv_file(csv_line(2)), "cli:nightly")
    assert block_of(runtime, conn, "P00002")[0] is True

    admin.unblock("P00002", "api:manny")
    admin.import_csv(csv_file(csv_line(2, name="Renamed")), "cli:nightly")

    assert block_of(runtime, conn, "P00002") == (False, None, None)


def test_a_block_the_imported_row_sets_is_the_branchs_own_and_stands(runtime, clock, conn) -> None:
    send_list(runtime, clock, conn, LENT_CARD)
    member_admin(runtime, conn).import_csv(csv_file(csv_line(2, blocked="ja")), "cli:nightly")
    assert block_of(runtime, conn, "P00002") == (True, None, None)  # the file's block, not the list's
    assert FleetApplied(conn).fleet_blocked() == set() and join_audit(conn) == []


def test_a_managers_add_through_the_api_is_blocked_from_the_list(runtime, clock, conn) -> None:
    send_list(runtime, clock, conn, {**LENT_CARD, "patron": "P00042"}, version=9)
    api = build_api(runtime)

    response = api.client.post(
        "/api/v1/members",
        json={
            "patron_id": "P00042",
            "display_name": "A.B.",
            "cards": ["0401 2345 6789 01"],
            "birth_date": "1990-02-03",
        },
        headers=api.auth("manny"),
    )

    assert response.status_code == 201, response.text
    assert block_of(runtime, conn, "P00042") == (True, date(2027, 3, 1), "lent card")
    assert [actor for actor, _ in join_audit(conn)] == ["fleet:blocks v9"]


def test_a_fleet_members_command_adding_a_listed_patron_blocks_them(runtime, clock, conn) -> None:
    send_list(runtime, clock, conn, {**LENT_CARD, "patron": "P00009", "until": None})
    row = {
        "patron_id": "P00009",
        "cards": "29990000000099",
        "name": "N.",
        "valid_until": "2031-01-01",
        "adult": "yes",
    }

    apply_command(runtime, clock, conn, "members", {"upsert": [row]}, 1)

    assert block_of(runtime, conn, "P00009") == (True, None, "lent card")
    assert FleetApplied(conn).fleet_blocked() == {"P00009"}


def test_an_expired_block_on_the_list_is_not_applied_on_joining(runtime, clock, conn) -> None:
    yesterday = local_date(clock()) - timedelta(days=1)
    send_list(
        runtime, clock, conn, {"patron": "P00003", "reason": "let others in", "until": yesterday.isoformat()}
    )

    member_admin(runtime, conn).import_csv(csv_file(csv_line(3)), "cli:nightly")

    assert block_of(runtime, conn, "P00003") == (False, None, None)
    assert join_audit(conn) == []


# --- the door with [lms]: a card the local list does not know --------------------------------


class _Events:
    def __init__(self) -> None:
        self.recorded: list[Event] = []

    def record(self, event: Event) -> None:
        self.recorded.append(event)


@pytest.fixture
def lms_runtime(tmp_path: Path, clock: FakeClock, lms: RunningServer) -> Runtime:
    settings = parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "lms": {"enabled": True, "port": lms.port, "institution": "BIB", "reply_timeout_seconds": 5},
            "eligibility": {"open_plus_patron_classes": ["OPENPLUS"]},
        },
        "test",
    )
    return Runtime.open(settings, clock=clock)


def test_a_card_the_lms_accepts_for_a_listed_patron_is_refused(lms_runtime, clock) -> None:
    answers: queue.Queue[LmsAnswer] = queue.Queue()
    events = _Events()
    gate = open_lms_gate(lms_runtime, answers.put, events, "entrance")
    assert gate is not None
    with closing(lms_runtime.connection()) as conn:
        authorizer = Authorizer(
            lms_runtime.members(conn),
            events,
            lms_runtime.hasher,
            lms_runtime.settings.access,
            "entrance",
            lms=(gate.link, gate.decider),
        )
        gate.start()
        try:

            def enter(card: str, pin: str) -> Any:
                question = authorizer.begin(card, pin, "rfid", DoorMode.OPENPLUS, clock())
                assert isinstance(question, LmsQuestion) and question.local is None
                return authorizer.conclude(question, answers.get(timeout=HANG_GUARD), clock())

            assert enter(LMS_GOOD, "1234").granted  # not on any list yet
            # The list arrives while the door runs; the card's patron id is the LMS's barcode.
            send_list(lms_runtime, clock, conn, {"patron": LMS_GOOD, "reason": "lent card", "until": None})

            refused = enter(LMS_GOOD, "1234")
            assert not refused.granted and refused.reason is Reason.BLOCKED
            assert decided_by_of(events.recorded[-1].detail) == DecidedBy.LMS
            assert "blocked_by=fleet_list" in (events.recorded[-1].detail or "")
            assert gate.cache.check(LMS_GOOD, "1234", clock()) is True  # remembered before the list only
            assert enter(LMS_FINES, "5678").granted  # a card not on the list: the LMS's word
        finally:
            gate.close()


class _CachedYes:
    """An offline cache that accepted every card and PIN lately."""

    def check(self, card: str, pin: str, now: datetime) -> bool | None:
        return True

    def remember(self, card: str, pin: str, now: datetime) -> None: ...
    def forget(self, card: str) -> None: ...


class _Listed:
    """The fleet's list as the door reads it: these cards, until a day."""

    def __init__(self, cards: dict[str, date | None]) -> None:
        self._cards = cards

    def blocks(self, card: str, today: date) -> bool:
        return card in self._cards and ListedBlock(self._cards[card], None).in_force_on(today)


@pytest.mark.parametrize(
    ("listed", "reason"),
    [
        ({LMS_GOOD: None}, Reason.BLOCKED),
        ({LMS_GOOD: date(2026, 6, 9)}, Reason.GRANTED),  # ended yesterday
        ({LMS_FINES: None}, Reason.GRANTED),  # another card
    ],
)
def test_the_offline_cache_does_not_admit_a_card_on_the_list(clock, listed, reason) -> None:
    decider = LmsDecider(
        EligibilityRules(), "cached", _CachedYes(), lambda member, pin: False, _Listed(listed)
    )
    question = LmsQuestion(
        attempt=1,
        card=LMS_GOOD,
        pin="1234",
        reader="rfid",
        mode=DoorMode.OPENPLUS,
        asked_at=clock(),
        local=None,
    )
    verdict = decider.decide(question, None, local_date(clock()), clock())
    assert (verdict.reason, verdict.decided_by) == (reason, DecidedBy.CACHE)
    assert ("blocked_by=fleet_list" in verdict.detail) is (reason is Reason.BLOCKED)
