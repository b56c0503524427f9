"""The door asks the library system: the real door machine and loop, the real SIP2 pool, the
real pysip2 server (through the fault proxy), mock pins for the relay.

Each case ends in a decision, an event saying which path decided, a door message, and a door
loop that is still running. The answer arrives on a pool worker; the tests wait for it with
the loop's own `run_once` (bounded by HANG_GUARD), never by sleeping.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.domain.decision import Reason
from controller.domain.eligibility import EligibilityRules
from controller.domain.events import EventType
from controller.domain.messages import CHECKING, PROMPT_PIN, door_message
from controller.domain.modes import DoorMode
from controller.door.ports import ExitRequest, ModeChanged, Phase
from controller.services.lms_access import decided_by_of
from controller.services.offline_policy import DecidedBy
from tests.lms import fault_proxy as faults
from tests.lms.conftest import HANG_GUARD, LmsDoorBench

GOOD, LOST, YOUNG, EXPIRED, FINES, BARE = (f"2999000000000{n}" for n in range(1, 7))
PIN = {GOOD: "1234", LOST: "2345", YOUNG: "3456", EXPIRED: "4567", FINES: "5678", BARE: "6789"}


def decided_by(bench: LmsDoorBench) -> DecidedBy | None:
    return decided_by_of(bench.last_access().detail)


def test_a_member_the_lms_accepts_is_let_in(lms_door):
    bench = lms_door()
    bench.enter(GOOD, PIN[GOOD])
    assert bench.door.phase is Phase.CHECKING and bench.messages[-1] == CHECKING
    assert not bench.relay_on  # nothing opens before the answer
    bench.wait_answer()
    assert bench.relay_on and bench.door.phase is Phase.UNLOCKED
    assert bench.messages[-1] == door_message(Reason.GRANTED)
    event = bench.last_access()
    assert event.type is EventType.ACCESS_GRANTED and event.reason == Reason.GRANTED
    assert decided_by(bench) == DecidedBy.LMS and event.card_hint and GOOD not in str(event)
    assert bench.cache.check(GOOD, PIN[GOOD], bench.clock()) is True


@pytest.mark.parametrize(
    ("card", "pin", "rules", "reason"),
    [
        (GOOD, "9999", EligibilityRules(), Reason.WRONG_PIN),
        ("29990000009999", "1234", EligibilityRules(), Reason.UNKNOWN_CARD),
        (LOST, PIN[LOST], EligibilityRules(), Reason.CARD_LOST),
        (YOUNG, PIN[YOUNG], EligibilityRules(), Reason.NOT_REGISTERED),  # class JEUGD is not Open+
        (
            YOUNG,
            PIN[YOUNG],
            EligibilityRules(open_plus_classes=frozenset({"OPENPLUS", "JEUGD"})),
            Reason.UNDER_18,
        ),
        (
            YOUNG,
            PIN[YOUNG],
            EligibilityRules(min_age=13, minors_need_consent=True, open_plus_classes=frozenset({"JEUGD"})),
            Reason.UNDER_AGE,
        ),  # born 2014: 12 at the bench's date
        (EXPIRED, PIN[EXPIRED], EligibilityRules(), Reason.EXPIRED),
        (FINES, PIN[FINES], EligibilityRules(), Reason.GRANTED),  # a borrowing block alone: in
        (FINES, PIN[FINES], EligibilityRules(barring_positions=frozenset({10})), Reason.LMS_REFUSED),
        (BARE, PIN[BARE], EligibilityRules(), Reason.NOT_REGISTERED),  # no class, not on the list
    ],
)
def test_each_lms_answer_ends_in_its_reason_and_message(lms_door, card, pin, rules, reason):
    if not rules.open_plus_classes:
        rules = replace(rules, open_plus_classes=frozenset({"OPENPLUS"}))
    bench = lms_door(rules=rules)
    bench.enter(card, pin)
    bench.wait_answer()
    assert bench.last_access().reason == reason
    assert bench.messages[-1] == door_message(reason)
    assert bench.relay_on is (reason is Reason.GRANTED)
    assert decided_by(bench) == DecidedBy.LMS
    if reason is Reason.WRONG_PIN:  # same card: the member may type the PIN again
        assert bench.door.phase is Phase.AWAITING_PIN


def test_an_empty_pin_is_never_sent_to_the_lms(lms_door):
    bench = lms_door()
    bench.enter(GOOD, "")
    assert bench.last_access().reason == Reason.WRONG_PIN  # decided at once, locally
    assert bench.proxy.requests_starting(b"23") == 0


@pytest.mark.parametrize(
    "fault", [faults.SILENCE, faults.GARBAGE, faults.GARBLED_FRAME, faults.BAD_CHECKSUM_ALWAYS]
)
def test_without_an_answer_the_deny_policy_refuses_and_says_why(lms_door, fault):
    bench = lms_door(policy="deny")
    bench.proxy.set_fault(fault)
    bench.enter(GOOD, PIN[GOOD])
    bench.wait_answer()
    assert bench.last_access().reason == Reason.LMS_UNAVAILABLE and not bench.relay_on
    assert decided_by(bench) == DecidedBy.DENY and " lms=" in bench.last_access().detail
    assert bench.messages[-1] == door_message(Reason.LMS_UNAVAILABLE)
    bench.proxy.set_fault(faults.PASS)  # and the door goes on as before, once the pool
    assert bench.pool.wait_ready(HANG_GUARD)  # has replaced the connection it dropped
    bench.enter(GOOD, PIN[GOOD])
    bench.wait_answer()
    assert bench.relay_on


def test_a_connection_closed_mid_reply_ends_in_a_decision_and_the_loop_goes_on(lms_door):
    bench = lms_door(policy="deny")
    bench.proxy.set_fault(faults.CLOSE_MID_REPLY)  # once: the pool may retry on another one
    bench.enter(GOOD, PIN[GOOD])
    bench.wait_answer()
    event = bench.last_access()
    assert (event.reason, decided_by(bench)) in {
        (Reason.GRANTED, DecidedBy.LMS),
        (Reason.LMS_UNAVAILABLE, DecidedBy.DENY),
    }
    assert bench.relay_on is (event.reason == Reason.GRANTED)
    bench.after(10)  # any pulse ends; the next member gets in as before
    assert bench.pool.wait_ready(HANG_GUARD)
    bench.enter(FINES, PIN[FINES])
    bench.wait_answer()
    assert bench.relay_on and decided_by(bench) == DecidedBy.LMS


def test_a_pin_the_lms_accepted_lets_the_member_in_while_it_is_out_of_reach(lms_door):
    bench = lms_door(policy="cached")
    bench.enter(GOOD, PIN[GOOD])
    bench.wait_answer()
    bench.after(10)  # the pulse ends
    assert not bench.relay_on
    bench.proxy.set_fault(faults.SILENCE)
    bench.enter(GOOD, "0000")
    bench.wait_answer()
    assert bench.last_access().reason == Reason.WRONG_PIN
    assert decided_by(bench) == DecidedBy.CACHE
    bench.keys(PIN[GOOD] + "#")
    bench.wait_answer()
    assert bench.relay_on and decided_by(bench) == DecidedBy.CACHE
    bench.enter(FINES, PIN[FINES])  # never checked before: nothing cached
    bench.wait_answer()
    assert bench.last_access().reason == Reason.LMS_UNAVAILABLE


def test_the_door_stops_waiting_at_its_own_deadline_and_drops_the_late_answer(lms_door):
    bench = lms_door(policy="deny", reply_timeout=1.0)
    bench.proxy.set_fault(faults.SILENCE)
    bench.enter(GOOD, PIN[GOOD])
    assert bench.door.phase is Phase.CHECKING
    bench.after(1.0 + 0.3)  # the door's monotonic deadline (timeout + margin), fake clock
    assert bench.door.phase is Phase.IDLE
    assert bench.last_access().reason == Reason.LMS_UNAVAILABLE
    assert "lms=timeout" in bench.last_access().detail
    refusals = bench.access_events()
    bench.proxy.set_fault(faults.PASS)
    bench.wait_answer(expect_decision=False)  # the worker's own failure, after 1 s real time
    assert bench.access_events() == refusals and not bench.relay_on


def test_while_the_lms_checks_keys_and_cards_wait_but_the_exit_button_works(lms_door):
    bench = lms_door(reply_timeout=5.0)
    bench.proxy.set_fault(faults.SILENCE)
    bench.enter(GOOD, PIN[GOOD])
    bench.keys("99#")
    bench.card(FINES)
    assert bench.door.phase is Phase.CHECKING and bench.messages[-1] == CHECKING
    bench.send(ExitRequest())
    assert bench.relay_on  # nobody is kept in while the LMS thinks


def test_a_mode_change_during_the_check_drops_the_attempt(lms_door):
    bench = lms_door(reply_timeout=5.0)
    bench.proxy.set_fault(faults.SILENCE)
    bench.enter(GOOD, PIN[GOOD])
    bench.send(ModeChanged(DoorMode.CLOSED, "test"))
    assert bench.door.phase is Phase.IDLE
    bench.after(6)
    assert not bench.relay_on and bench.access_events() == []


def test_a_server_restart_between_two_entries(lms_door):
    bench = lms_door()
    bench.enter(GOOD, PIN[GOOD])
    bench.wait_answer()
    bench.after(10)
    bench.server.restart()
    bench.enter(GOOD, PIN[GOOD])
    bench.wait_answer()
    assert bench.relay_on and decided_by(bench) == DecidedBy.LMS


def test_the_link_going_down_and_coming_back_is_logged_once_each(lms_door):
    bench = lms_door()
    bench.link.note_link(True)  # the first look: up, nothing to say
    bench.link.note_link(False)
    bench.link.note_link(False)
    bench.link.note_link(True)
    kinds = [(e.type, e.reason) for e in bench.link_events]
    assert kinds == [(EventType.LMS_LINK, "lms_lost"), (EventType.LMS_LINK, "lms_back")]


def test_staff_cards_and_a_closed_branch_never_wait_for_the_lms(lms_door):
    bench = lms_door()
    bench.send(ModeChanged(DoorMode.CLOSED, "test"))
    bench.card(GOOD)
    assert bench.last_access().reason == Reason.OUTSIDE_HOURS
    assert bench.proxy.requests_starting(b"23") == 0
    assert bench.messages[-1] != PROMPT_PIN
