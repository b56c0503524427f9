"""The library system's part of a decision: its answer through the branch's rules, or the
offline policy when there is no answer in time.

The Authorizer asks (through `LmsLink`, on a worker) and hands what came back, or nothing,
to `LmsDecider.decide`, on the door thread: everything here is in memory (the rules are pure,
the PIN cache is read from memory and written behind), so the door never waits on it.

Each decision says which path made it (`DecidedBy`): the event records it, so entries made
while the LMS was out of reach stand out on the entries page and in exports.

A card the local list does not know is also looked up in the fleet's shared block list
(FleetBlockView, issue 17): the LMS knows nothing of it, and a patron blocked at one branch
must not walk into another. The door only knows such a patron by the card it sent the LMS
(SIP2's patron identifier), so that is what the list's patron ids are matched against.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from controller.config.lms import OfflinePolicy
from controller.domain.cards import CardFormatError, normalise_card
from controller.domain.decision import Reason
from controller.domain.eligibility import EligibilityRules, judge
from controller.domain.events import EventSink
from controller.domain.members import Member
from controller.services.lms import LmsAnswer, LmsLink, LmsQuestion, sip2_pool
from controller.services.offline_policy import DecidedBy, offline_verdict
from controller.services.pin_cache import LmsPinCache
from controller.services.runtime import Runtime
from controller.store.events import detail_field
from controller.store.fleet_commands import FleetApplied, ListedBlock

log = logging.getLogger(__name__)

DECIDED_BY_FIELD = "decided_by="  # how the event's detail names the path that decided


def decided_by_of(detail: str | None) -> DecidedBy | None:
    """Which path decided an access event, from its detail; None for an event without one
    (decided before the branch had an LMS, or another kind of event) or an unknown word."""
    value = detail_field(detail, DECIDED_BY_FIELD)
    try:
        return DecidedBy(value) if value is not None else None
    except ValueError:
        return None


class PinCache(Protocol):
    """Card + PIN pairs the LMS accepted lately, as keyed hashes; read in memory."""

    def check(self, card: str, pin: str, now: datetime) -> bool | None: ...
    def remember(self, card: str, pin: str, now: datetime) -> None: ...
    def forget(self, card: str) -> None: ...


class LocalPinCheck(Protocol):
    def __call__(self, member: Member, pin: str) -> bool: ...


class FleetBlocks(Protocol):
    """Whether the fleet's shared list blocks a card on a day; read in memory."""

    def blocks(self, card: str, today: date) -> bool: ...


class FleetBlockView:
    """The fleet's shared block list by card, in memory, for the door thread.

    Why not a query at each decision: the door never waits on the database. `refresh` reads
    the list's version (one key) on the LMS worker, just before it hands an answer to the door
    (open_lms_gate), and loads the list again only when a new one was applied; the door reads
    the dict it swapped in. A read that fails keeps the last list (and is logged).
    Only a card that is not on the local list is looked up: see LmsDecider._fleet_listed."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the LMS workers refresh, one at a time
        self._version: int | None = None
        self._cards: Mapping[str, ListedBlock] = {}

    def refresh(self) -> None:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                store = FleetApplied(self._conn)
                version = store.blocks_version()
                if version == self._version:
                    return
                shared = store.block_list()
            except Exception:  # the worker must still hand the door its answer
                log.exception("the fleet's block list could not be read; the last one stands")
                return
            cards: dict[str, ListedBlock] = {}
            for patron_id, block in shared.blocks.items() if shared is not None else ():
                try:
                    cards[normalise_card(patron_id)] = block
                except CardFormatError:
                    continue  # not a card number: a patron the local list names (MemberAdmin blocks them)
            self._cards, self._version = cards, version

    def blocks(self, card: str, today: date) -> bool:
        block = self._cards.get(card)
        return block is not None and block.in_force_on(today)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


@dataclass(frozen=True)
class LmsVerdict:
    reason: Reason
    decided_by: DecidedBy
    failure: str | None = None  # why the LMS gave no answer (LmsUnavailable's code)
    fleet_block: bool = False  # refused for the fleet's shared block list

    @property
    def detail(self) -> str:
        text = f"{DECIDED_BY_FIELD}{self.decided_by.value}"
        text = f"{text} lms={self.failure}" if self.failure else text
        return f"{text} blocked_by=fleet_list" if self.fleet_block else text


class LmsDecider:
    """One branch's rules and offline policy; `decide` is called once per answered question."""

    def __init__(
        self,
        rules: EligibilityRules,
        policy: OfflinePolicy,
        cache: PinCache,
        local_pin_matches: LocalPinCheck,
        fleet_blocks: FleetBlocks | None = None,
    ) -> None:
        """`fleet_blocks`: the shared list, asked for cards the local list does not know."""
        self._rules = rules
        self._policy = policy
        self._cache = cache
        self._local_pin_matches = local_pin_matches
        self._fleet_blocks = fleet_blocks

    def replace_rules(self, rules: EligibilityRules) -> None:
        """New rules (the fleet's `rules` command); the next decision reads them (one
        attribute swap: the door thread never sees half of them)."""
        self._rules = rules

    def decide(
        self, question: LmsQuestion, answer: LmsAnswer | None, today: date, now: datetime
    ) -> LmsVerdict:
        """`answer` None: none came before the door's deadline (as good as a timeout)."""
        if answer is None or answer.patron is None:
            return self._offline(question, today, now, answer.failure if answer is not None else "timeout")
        local = question.local  # no local entry: no consent (a minor is never assumed to have it)
        reason = judge(
            answer.patron,
            local,
            self._rules,
            today,
            guardian_consent=local is not None and local.guardian_consent,
        )
        if reason is Reason.GRANTED and self._fleet_listed(question, today):
            return LmsVerdict(Reason.BLOCKED, DecidedBy.LMS, fleet_block=True)
        if reason is Reason.GRANTED:
            self._cache.remember(question.card, question.pin, now)
        elif reason in (Reason.WRONG_PIN, Reason.UNKNOWN_CARD, Reason.CARD_LOST):
            self._cache.forget(question.card)  # what the LMS now refuses is not kept for later
        return LmsVerdict(reason, DecidedBy.LMS)

    def _offline(self, question: LmsQuestion, today: date, now: datetime, failure: str | None) -> LmsVerdict:
        """The branch's offline policy (services/offline_policy.py) while the LMS is silent."""
        local = question.local
        local_pin_matches = (
            self._local_pin_matches(local, question.pin) if local is not None and local.has_pin else None
        )
        verdict = offline_verdict(
            self._policy,
            self._cache.check(question.card, question.pin, now),
            local,
            today,
            local_pin_matches=local_pin_matches,
        )
        if verdict.reason is Reason.GRANTED and self._fleet_listed(question, today):
            return LmsVerdict(Reason.BLOCKED, verdict.path, failure, fleet_block=True)
        return LmsVerdict(verdict.reason, verdict.path, failure)

    def _fleet_listed(self, question: LmsQuestion, today: date) -> bool:
        """A card the local list does not know, on the fleet's shared list. A local entry is
        left to its own block: the list blocked it on joining, and a manager's unblock wins."""
        return (
            question.local is None
            and self._fleet_blocks is not None
            and self._fleet_blocks.blocks(question.card, today)
        )


@dataclass
class LmsGate:
    """Everything a door needs to ask its library system, started and closed together."""

    link: LmsLink
    decider: LmsDecider
    cache: LmsPinCache
    fleet_blocks: FleetBlockView

    def start(self) -> None:
        self.cache.start()  # loads the cache (one query) before the first question
        self.fleet_blocks.refresh()  # and the fleet's block list
        self.link.start()

    def close(self) -> None:
        self.link.close()
        self.cache.close()
        self.fleet_blocks.close()


def open_lms_gate(
    runtime: Runtime, deliver: Callable[[LmsAnswer], None], events: EventSink, door: str
) -> LmsGate | None:
    """The gate `runtime.settings.lms` describes, or None when the branch has no LMS link.

    `deliver` takes each answer to the door loop; `events` must not block (the EventWriter)."""
    settings = runtime.settings
    if not settings.lms.enabled:
        return None
    hasher = runtime.hasher
    cache = LmsPinCache(hasher, runtime.connection, cache_days=settings.lms.cache_days, clock=runtime.clock)
    fleet_blocks = FleetBlockView(runtime.connection)

    def deliver_with_fresh_list(answer: LmsAnswer) -> None:
        fleet_blocks.refresh()  # on the worker: the door decides on the list as it is now
        deliver(answer)

    link = LmsLink(
        sip2_pool(settings.lms, runtime.clock),
        timeout=settings.lms.reply_timeout_seconds,
        deliver=deliver_with_fresh_list,
        events=events,
        clock=runtime.clock,
        door=door,
        workers=settings.lms.connections,
    )
    decider = LmsDecider(
        settings.eligibility.rules(),
        settings.lms.offline_policy,
        cache,
        lambda member, pin: hasher.verify(pin, member.pin_salt, member.pin_hash),
        fleet_blocks,
    )
    return LmsGate(link, decider, cache, fleet_blocks)
