"""The accessible entrance (issue 14): a door operator pulsed after a grant and by the open
button inside, longer times for a member with "more time", and a help button that records,
shows and says that help was called, and never unlocks anything.

Doors on mock pins with the injected clock (tests/test_door.py's Bench); the wired branch
and the simulator's console on simulated hardware (tests/conftest.py's live_branch).
"""

from __future__ import annotations

from contextlib import closing

import pytest

from controller.config.settings import ConfigError, DoorSettings, parse_settings
from controller.domain import messages
from controller.domain.decision import Reason
from controller.domain.events import EventType
from controller.domain.modes import DoorMode
from controller.door.ports import DoorContactChanged, HelpRequested, ModeChanged, OpenButtonPressed
from controller.services.access import Authorizer
from controller.services.lms import LmsQuestion
from controller.services.lms_access import LmsVerdict
from controller.services.members import MemberAdmin
from controller.services.offline_policy import DecidedBy
from controller.sim.console import Console
from controller.sim.hardware import HELP_BUTTON_PIN, OPEN_BUTTON_PIN, OPERATOR_PIN
from tests.helpers import member_row
from tests.test_door import OPERATOR, Bench

PULSE = 1.0  # DoorSettings().operator_pulse_seconds


def make_bench(
    runtime,
    clock,
    factory,
    settings: DoorSettings | None = None,
    *,
    operator: bool = True,
    mode: DoorMode = DoorMode.OPENPLUS,
    more_rows=(),
) -> Bench:
    bench = Bench(runtime, clock, factory, settings, operator=operator, more_rows=more_rows)
    bench.send(ModeChanged(mode, "test"))
    return bench


@pytest.fixture
def entrance(runtime, clock, mock_factory):
    """A door in Open+ with a door operator."""
    bench = make_bench(runtime, clock, mock_factory)
    yield bench
    bench.close()


def operator_on(bench: Bench) -> bool:
    return bench.pin(OPERATOR) == 1


def last_event(bench: Bench):
    return bench.events.query(limit=1)[0]


# --- the door operator -------------------------------------------------------------------------
def test_a_grant_pulses_the_operator_for_its_time_after_the_lock(entrance, monkeypatch):
    moves: list[str] = []
    relay, operator = entrance.door._out.relay, entrance.door._out.operator
    monkeypatch.setattr(relay, "unlock", lambda real=relay.unlock: (moves.append("unlock"), real()))
    monkeypatch.setattr(operator, "on", lambda real=operator.on: (moves.append("operator"), real()))
    entrance.card()
    entrance.keys("1234#")
    assert moves == ["unlock", "operator"]  # in the same turn, the lock first
    assert entrance.relay_on and operator_on(entrance)
    entrance.after(PULSE - 0.1)
    assert operator_on(entrance)
    entrance.after(0.1)
    assert not operator_on(entrance) and entrance.relay_on  # the unlock pulse runs on (5 s)
    entrance.after(4.0)
    assert not entrance.relay_on and not operator_on(entrance)


def test_the_operator_pulse_length_is_configured(runtime, clock, mock_factory):
    bench = make_bench(runtime, clock, mock_factory, DoorSettings(operator_pulse_seconds=0.3))
    try:
        bench.card()
        bench.keys("1234#")
        bench.after(0.2)
        assert operator_on(bench)
        bench.after(0.1)
        assert not operator_on(bench)
    finally:
        bench.close()


@pytest.mark.parametrize(
    ("card", "pin"), [("29990000000001", "0000#"), ("11112222333344", "1234#"), ("29990000000002", "1234#")]
)
def test_a_refusal_does_not_start_the_operator(entrance, card, pin):
    entrance.card(card)
    entrance.keys(pin)
    assert not entrance.relay_on and not operator_on(entrance)


def test_outside_open_hours_the_operator_stays_off(runtime, clock, mock_factory):
    bench = make_bench(runtime, clock, mock_factory, mode=DoorMode.CLOSED)
    try:
        bench.card()
        assert not operator_on(bench) and last_event(bench).reason == "outside_hours"
    finally:
        bench.close()


def test_in_staffed_hours_any_card_starts_the_operator_of_the_free_door(runtime, clock, mock_factory):
    """The door is held unlocked in staffed hours: a card there (a member's or not) asks no
    PIN and says the door is open, and now also opens it for someone who cannot push it."""
    bench = make_bench(runtime, clock, mock_factory, mode=DoorMode.STAFFED)
    try:
        bench.card("11112222333344")  # no member's card: the door is open to everyone now
        assert operator_on(bench) and bench.messages[-1] == messages.DOOR_FREE
        bench.after(PULSE)
        assert not operator_on(bench)
    finally:
        bench.close()


def test_the_open_button_inside_pulses_the_operator_and_lets_people_out(entrance):
    entrance.send(OpenButtonPressed())
    assert entrance.relay_on and operator_on(entrance)
    event = last_event(entrance)
    assert event.type is EventType.EXIT_REQUEST and event.detail == "open button"
    entrance.send(DoorContactChanged(True))
    assert EventType.DOOR_FORCED not in entrance.types()
    entrance.after(PULSE)
    assert not operator_on(entrance)


def test_the_open_button_starts_the_operator_without_unlocking_when_rex_does_not(
    runtime, clock, mock_factory
):
    bench = make_bench(runtime, clock, mock_factory, DoorSettings(rex_unlocks=False))
    try:
        bench.send(OpenButtonPressed())
        assert operator_on(bench) and not bench.relay_on
        bench.send(DoorContactChanged(True))  # within the exit grace: not forced
        assert EventType.DOOR_FORCED not in bench.types()
    finally:
        bench.close()


def test_the_exit_button_does_not_start_the_operator(entrance):
    from controller.door.ports import ExitRequest

    entrance.send(ExitRequest())
    assert entrance.relay_on and not operator_on(entrance)


def test_without_an_operator_grants_and_the_open_button_still_work(runtime, clock, mock_factory):
    bench = make_bench(runtime, clock, mock_factory, operator=False)
    try:
        bench.send(OpenButtonPressed())
        assert bench.relay_on and last_event(bench).detail == "open button"
        bench.after(5)
        bench.card()
        bench.keys("1234#")
        assert bench.relay_on
    finally:
        bench.close()


def test_a_fault_in_the_door_loop_turns_the_operator_off(entrance, monkeypatch):
    entrance.card()
    entrance.keys("1234#")
    assert operator_on(entrance)
    entrance.door.fail_secure(RuntimeError("test"))
    assert not operator_on(entrance) and not entrance.relay_on
    entrance.after(PULSE)  # its deadline is gone with it: nothing turns it on or off again
    assert not operator_on(entrance)


def test_stopping_the_door_turns_the_operator_off(entrance):
    entrance.send(OpenButtonPressed())
    entrance.loop.stop()
    assert not operator_on(entrance) and not entrance.relay_on


# --- "more time" ----------------------------------------------------------------------------------
MORE_TIME_CARD = "29990000000006"  # member 6 of more_time_bench, PIN 1234
LONGER = DoorSettings(more_time_unlock_seconds=12, more_time_held_open_seconds=90)


@pytest.fixture
def more_time_bench(runtime, clock, mock_factory):
    """The entrance with member 6, who has "more time" (unlock 12 s, open 90 s; others 5 and 30)."""
    bench = make_bench(runtime, clock, mock_factory, LONGER, more_rows=[(6, member_row(6, more_time=True))])
    yield bench
    bench.close()


def enter(bench: Bench, card: str) -> None:
    bench.card(card)
    bench.keys("1234#")
    assert bench.relay_on and last_event(bench).type is EventType.ACCESS_GRANTED


def test_a_member_with_more_time_gets_the_longer_unlock_time(more_time_bench):
    enter(more_time_bench, MORE_TIME_CARD)
    assert more_time_bench.door.snapshot().unlock_seconds_left == 12  # the screen counts this
    more_time_bench.after(11.9)
    assert more_time_bench.relay_on
    more_time_bench.after(0.1)
    assert not more_time_bench.relay_on
    assert operator_on(more_time_bench) is False  # the operator's pulse is its own, unchanged


def test_a_member_with_more_time_may_keep_the_door_open_longer(more_time_bench):
    enter(more_time_bench, MORE_TIME_CARD)
    more_time_bench.send(DoorContactChanged(True))
    more_time_bench.after(89.9)
    assert EventType.DOOR_HELD_OPEN not in more_time_bench.types()
    more_time_bench.after(0.1)
    held = last_event(more_time_bench)
    assert held.type is EventType.DOOR_HELD_OPEN and held.detail == "open for 90 s"


def test_an_ordinary_member_keeps_the_ordinary_times(more_time_bench):
    enter(more_time_bench, "29990000000001")
    assert more_time_bench.door.snapshot().unlock_seconds_left == 5
    more_time_bench.after(4.9)
    assert more_time_bench.relay_on
    more_time_bench.after(0.1)
    assert not more_time_bench.relay_on
    enter(more_time_bench, "29990000000001")
    more_time_bench.send(DoorContactChanged(True))
    more_time_bench.after(30)
    held = last_event(more_time_bench)
    assert held.type is EventType.DOOR_HELD_OPEN and held.detail == "open for 30 s"


def test_more_time_lasts_one_opening(more_time_bench):
    enter(more_time_bench, MORE_TIME_CARD)
    more_time_bench.send(DoorContactChanged(True), DoorContactChanged(False))
    more_time_bench.send(OpenButtonPressed(), DoorContactChanged(True))  # the next one, going out
    more_time_bench.after(30)
    assert last_event(more_time_bench).detail == "open for 30 s"


def test_more_time_for_a_door_already_standing_open(more_time_bench):
    more_time_bench.send(OpenButtonPressed(), DoorContactChanged(True))
    more_time_bench.after(20)
    enter(more_time_bench, MORE_TIME_CARD)  # someone held it; the member with more time comes
    more_time_bench.after(69.9)  # 89.9 s since it opened
    assert EventType.DOOR_HELD_OPEN not in more_time_bench.types()
    more_time_bench.after(0.1)
    assert last_event(more_time_bench).type is EventType.DOOR_HELD_OPEN


def test_an_exit_request_does_not_cut_a_longer_pulse_short(more_time_bench):
    from controller.door.ports import ExitRequest

    enter(more_time_bench, MORE_TIME_CARD)
    more_time_bench.after(2)
    more_time_bench.send(ExitRequest())
    more_time_bench.after(9.9)
    assert more_time_bench.relay_on
    more_time_bench.after(0.1)
    assert not more_time_bench.relay_on


def test_the_authorizer_flags_only_a_grant_to_a_member_with_more_time(runtime, clock):
    conn = runtime.connection()
    try:
        members = runtime.members(conn)
        MemberAdmin(members, runtime.events(conn), clock, "e").replace_list(
            [(1, member_row(1)), (6, member_row(6, more_time=True))], "test"
        )
        auth = Authorizer(members, runtime.events(conn), runtime.hasher, runtime.settings.access, "entrance")
        at = clock()
        assert auth.authorize(MORE_TIME_CARD, "1234", "rfid", DoorMode.OPENPLUS, at).more_time
        assert not auth.authorize("29990000000001", "1234", "rfid", DoorMode.OPENPLUS, at).more_time
        wrong = auth.authorize(MORE_TIME_CARD, "0000", "rfid", DoorMode.OPENPLUS, at)
        assert not wrong.granted and not wrong.more_time
        closed = auth.authorize(MORE_TIME_CARD, "1234", "rfid", DoorMode.CLOSED, at)
        assert not closed.granted and not closed.more_time
    finally:
        conn.close()


class _AskedLms:
    """An LMS link that only keeps the questions (the answer is the test's)."""

    timeout = 2.0

    def __init__(self) -> None:
        self.asked: list[LmsQuestion] = []

    def ask(self, question: LmsQuestion) -> None:
        self.asked.append(question)


class _Verdict:
    """The branch's rules' verdict, fixed by the test."""

    def __init__(self, reason: Reason) -> None:
        self.reason = reason

    def decide(self, question, answer, today, now) -> LmsVerdict:
        return LmsVerdict(self.reason, DecidedBy.LMS)


@pytest.mark.parametrize(("reason", "more_time"), [(Reason.GRANTED, True), (Reason.BLOCKED, False)])
def test_a_grant_the_library_system_decided_carries_the_local_lists_flag(runtime, clock, reason, more_time):
    conn = runtime.connection()
    try:
        members = runtime.members(conn)
        MemberAdmin(members, runtime.events(conn), clock, "e").replace_list(
            [(6, member_row(6, more_time=True))], "test"
        )
        link = _AskedLms()
        auth = Authorizer(
            members,
            runtime.events(conn),
            runtime.hasher,
            runtime.settings.access,
            "entrance",
            lms=(link, _Verdict(reason)),
        )
        question = auth.begin(MORE_TIME_CARD, "1234", "rfid", DoorMode.OPENPLUS, clock())
        assert isinstance(question, LmsQuestion) and link.asked == [question]
        decision = auth.conclude(question, None, clock())
        assert (decision.reason, decision.more_time) == (reason, more_time)
    finally:
        conn.close()


# --- the help button ----------------------------------------------------------------------------
def test_the_help_button_records_shows_and_never_unlocks(entrance):
    entrance.send(HelpRequested())
    event = last_event(entrance)
    assert event.type is EventType.HELP_REQUESTED and event.door == "entrance"
    assert entrance.messages[-1] == messages.HELP_REQUESTED
    assert (entrance.messages[-1].nl, entrance.messages[-1].en) == (
        "Hulp is gevraagd",
        "Help has been called",
    )
    assert entrance.messages[-1].key == "display.help_requested"  # the voice's sound file
    assert entrance.door.snapshot().message == messages.HELP_REQUESTED  # the screen and LCD
    assert not entrance.relay_on and not operator_on(entrance)
    entrance.send(DoorContactChanged(True))
    assert EventType.DOOR_FORCED in entrance.types()  # it opened nothing


def test_pressing_help_again_while_it_shows_is_one_event(entrance):
    entrance.send(HelpRequested(), HelpRequested())
    assert entrance.types().count(EventType.HELP_REQUESTED) == 1
    entrance.after(DoorSettings().message_seconds)  # the card prompt is back
    assert entrance.door.snapshot().message == messages.PROMPT_CARD
    entrance.send(HelpRequested())
    assert entrance.types().count(EventType.HELP_REQUESTED) == 2


def test_the_help_button_works_outside_open_hours(runtime, clock, mock_factory):
    bench = make_bench(runtime, clock, mock_factory, mode=DoorMode.CLOSED)
    try:
        bench.send(HelpRequested())
        assert last_event(bench).type is EventType.HELP_REQUESTED and not bench.relay_on
    finally:
        bench.close()


# --- the config --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"door": {"operator_pulse_seconds": 0}}, "door.operator_pulse_seconds"),
        ({"door": {"operator_pulse_seconds": 31}}, "door.operator_pulse_seconds"),
        ({"hardware": {"door_operator": {"pin": 99}}}, "hardware.door_operator.pin"),
        ({"hardware": {"door_operator": {"active_high": True}}}, "hardware.door_operator.pin"),
        ({"hardware": {"open_button_pin": -1}}, "hardware.open_button_pin"),
        ({"hardware": {"help_button_pin": 1e15}}, "hardware.help_button_pin"),
        ({"door": {"more_time_unlock_seconds": 4}}, "door.more_time_unlock_seconds"),
        ({"door": {"more_time_unlock_seconds": 121}}, "door.more_time_unlock_seconds"),
        ({"door": {"more_time_held_open_seconds": 29}}, "door.more_time_held_open_seconds"),
        ({"door": {"more_time_held_open_seconds": float("inf")}}, "door.more_time_held_open_seconds"),
        (
            {"door": {"unlock_seconds": 20, "more_time_unlock_seconds": 10}},
            "door.more_time_unlock_seconds: must be at least unlock_seconds",
        ),
    ],
)
def test_config_errors_name_the_key(raw, named):
    with pytest.raises(ConfigError, match=f"^test: {named}"):
        parse_settings(raw, "test")


def test_the_accessible_entrance_is_optional_and_more_time_follows_longer_normal_times():
    default = parse_settings({}, "test")
    assert default.hardware.door_operator is None
    assert default.hardware.open_button_pin is default.hardware.help_button_pin is None
    raised = parse_settings({"door": {"unlock_seconds": 40, "held_open_seconds": 600}}, "test").door
    assert (raised.more_time_unlock_seconds, raised.more_time_held_open_seconds) == (40, 600)
    bad_normal = "test: door.unlock_seconds: Input should be less than or equal to 60"
    with pytest.raises(ConfigError, match=f"^{bad_normal} \\(got 200\\)$"):
        parse_settings({"door": {"unlock_seconds": 200}}, "test")  # one error: its own key


# --- wired, and in the simulator -------------------------------------------------------------------
def test_the_wired_branch_has_the_operator_and_both_buttons(live_branch, clock):
    sim, service = live_branch
    hw = sim.settings.hardware
    assert (hw.open_button_pin, hw.help_button_pin) == (OPEN_BUTTON_PIN, HELP_BUTTON_PIN)
    assert hw.door_operator is not None and hw.door_operator.pin == OPERATOR_PIN
    sim.press_open_button()
    assert service.loop.wait_idle(5)
    assert sim.outputs()["operator"] and sim.outputs()["relay"]
    clock.advance(seconds=PULSE)
    service.loop.submit(ModeChanged(DoorMode.OPENPLUS))  # a turn, to see the deadline passed
    assert service.loop.wait_idle(5)
    assert not sim.outputs()["operator"]
    sim.press_help_button()
    assert service.loop.wait_idle(5) and service.writer.flush(5)
    with closing(service.runtime.connection()) as conn:
        kinds = [e.type for e in service.runtime.events(conn).query(limit=10)]
    assert EventType.HELP_REQUESTED in kinds
    snapshot = service.snapshot()
    assert snapshot is not None and snapshot.message == messages.HELP_REQUESTED


def test_the_console_presses_the_inside_and_help_buttons(live_branch):
    sim, service = live_branch
    lines: list[str] = []
    console = Console(service, sim, lines.append)
    console.execute("help")
    assert any(line.lstrip().startswith("inside ") for line in lines[-1].splitlines())
    assert any(line.lstrip().startswith("helpbutton ") for line in lines[-1].splitlines())
    console.execute("inside")
    console.execute("status")
    assert "operator on" in lines[-1] and "relay on" in lines[-1]
    console.execute("helpbutton")
    assert service.observers.wait_idle(5)  # the console prints what the door shows from there
    assert any("Hulp is gevraagd" in line for line in lines)
