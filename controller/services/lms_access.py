"""The library system's part of a decision: its answer through the branch's rules, or the
offline policy when there is no answer in time.

The Authorizer asks (through `LmsLink`, on a worker) and hands what came back, or nothing,
to `LmsDecider.decide`, on the door thread: everything here is in memory (the rules are pure,
the PIN cache is read from memory and written behind), so the door never waits on it.

Each decision says which path made it (`DecidedBy`): the event records it, so entries made
while the LMS was out of reach stand out on the entries page and in exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from controller.config.lms import OfflinePolicy
from controller.domain.decision import Reason
from controller.domain.eligibility import EligibilityRules, judge
from controller.domain.events import EventSink
from controller.domain.members import Member
from controller.services.lms import LmsAnswer, LmsLink, LmsQuestion, sip2_pool
from controller.services.offline_policy import DecidedBy, offline_verdict
from controller.services.pin_cache import LmsPinCache
from controller.services.runtime import Runtime
from controller.store.events import detail_field

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


@dataclass(frozen=True)
class LmsVerdict:
    reason: Reason
    decided_by: DecidedBy
    failure: str | None = None  # why the LMS gave no answer (LmsUnavailable's code)

    @property
    def detail(self) -> str:
        text = f"{DECIDED_BY_FIELD}{self.decided_by.value}"
        return f"{text} lms={self.failure}" if self.failure else text


class LmsDecider:
    """One branch's rules and offline policy; `decide` is called once per answered question."""

    def __init__(
        self,
        rules: EligibilityRules,
        policy: OfflinePolicy,
        cache: PinCache,
        local_pin_matches: LocalPinCheck,
    ) -> None:
        self._rules = rules
        self._policy = policy
        self._cache = cache
        self._local_pin_matches = local_pin_matches

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
        return LmsVerdict(verdict.reason, verdict.path, failure)


@dataclass
class LmsGate:
    """Everything a door needs to ask its library system, started and closed together."""

    link: LmsLink
    decider: LmsDecider
    cache: LmsPinCache

    def start(self) -> None:
        self.cache.start()  # loads the cache (one query) before the first question
        self.link.start()

    def close(self) -> None:
        self.link.close()
        self.cache.close()


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
    link = LmsLink(
        sip2_pool(settings.lms, runtime.clock),
        timeout=settings.lms.reply_timeout_seconds,
        deliver=deliver,
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
    )
    return LmsGate(link, decider, cache)
