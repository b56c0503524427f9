"""The one place that decides: card + PIN + reader in, a logged Decision out.

Wraps the pure `decide` with what needs state: looking the card up, PIN lockouts, the reader
throttle and the event log. It never touches hardware; the door acts on what it returns.
On the door's path it only reads (a WAL read never waits for a writer): lockouts and the
throttle are counted in memory and events go to a sink that does not block.

The throttle counts refusals per door, across all its readers: counted per reader, a guesser
alternating the barcode scanner and the RFID reader reset it at every swap (15,720 attempts a
day in the review of issue 11).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from itertools import count

from controller.config.settings import AccessSettings
from controller.domain.cards import CardFormatError, card_hint, normalise_card
from controller.domain.clock import local_date
from controller.domain.decision import PIN_PROVEN, Decision, Reason, decide
from controller.domain.events import AlarmReason, Event, EventSink, EventType
from controller.domain.members import Category, Member
from controller.domain.modes import DoorMode
from controller.domain.pins import PinHasher
from controller.domain.throttle import FailureThrottle
from controller.services.lms import LmsAnswer, LmsLink, LmsQuestion
from controller.services.lms_access import LmsDecider
from controller.services.lockouts import PinLockouts
from controller.store.events import READER_FIELD, recent_refusals
from controller.store.members import MemberStore

_CYCLING_SIGNS = {Reason.UNKNOWN_CARD, Reason.WRONG_PIN, Reason.CARD_LOCKED}


class Authorizer:
    """Decides one attempt at a time and records it; the caller supplies mode and time."""

    def __init__(
        self,
        members: MemberStore,
        events: EventSink,
        hasher: PinHasher,
        settings: AccessSettings,
        door: str,
        lockouts: PinLockouts | None = None,
        lms: tuple[LmsLink, LmsDecider] | None = None,
    ) -> None:
        """`lockouts`: the PIN counts (default: stored straight through `members`' connection).
        `lms`: the library system's link and the branch's rules for its answers; without it
        the local list decides alone (`authorize`).
        The reader throttle starts from the refusals logged in its window, so a restart does
        not lift a slowdown (the event log is its store). One Authorizer runs one door."""
        self._members = members
        self._events = events
        self._lockouts = lockouts or PinLockouts.stored_in(
            members.connection, settings.max_wrong_pins, timedelta(minutes=settings.lockout_minutes)
        )
        self._hasher = hasher
        self._settings = settings
        self._door = door
        self._throttle = FailureThrottle(
            threshold=settings.reader_failure_threshold,
            window=timedelta(seconds=settings.reader_failure_window_seconds),
            first_pause=timedelta(seconds=settings.reader_slowdown_seconds),
            max_pause=timedelta(seconds=settings.reader_slowdown_max_seconds),
        )
        self._window = timedelta(seconds=settings.reader_failure_window_seconds)
        # The last cycling refusal of the slowdown under way (None: none is). A slowdown lasts
        # until a whole window passes without such a refusal; its alarm is raised once.
        self._slowdown_last: datetime | None = None
        self._lms = lms
        self._attempts = count(1)

    def resume_throttle(self, now: datetime) -> int:
        """Count again the refusals that the event log holds within the throttle's window, at
        any of the door's readers. Enough of them to slow the door continue the slowdown that
        was under way: its alarm was raised before the restart."""
        refusals = recent_refusals(
            self._members.connection, now - self._window, tuple(reason.value for reason in _CYCLING_SIGNS)
        )
        for _reader, at in refusals:
            self._throttle.record_failure(self._door, at)
        if len(refusals) >= self._settings.reader_failure_threshold:
            self._slowdown_last = refusals[-1][1]
        return len(refusals)

    @property
    def staff_allowed_when_closed(self) -> bool:
        """Whether a card read outside opening hours is worth asking a PIN for."""
        return self._settings.staff_allowed_when_closed

    @property
    def lms_timeout(self) -> float | None:
        """How long the door waits for the library system (None: no LMS link)."""
        return self._lms[0].timeout if self._lms is not None else None

    def authorize(self, raw_card: str, pin: str, reader: str, mode: DoorMode, now: datetime) -> Decision:
        """Decide from the local list alone (a branch without an LMS link, or a staff card)."""
        return self._decide_locally(self._lookup(raw_card), raw_card, pin, reader, mode, now)

    def begin(
        self, raw_card: str, pin: str, reader: str, mode: DoorMode, now: datetime
    ) -> Decision | LmsQuestion:
        """A Decision when one can be made at once, else the question now put to the LMS.

        Decided at once, without the LMS: the branch's mode when closed, a reader slowdown, a
        card that is not a card number, a local PIN lockout, an empty PIN (never sent: some
        LMSs accept a blank one) and staff cards of the local list. The answer to a question
        comes back through the door loop; `conclude` turns it into the Decision."""
        member = self._lookup(raw_card)
        if self._lms is not None and not pin and not mode.is_closed:
            return self._refuse_empty_pin(member, raw_card, reader, mode, now)
        if (
            self._lms is None
            or mode.is_closed
            or (
                member is not None
                and (
                    member.category is Category.STAFF
                    or (member.locked_until is not None and now < member.locked_until)
                )
            )
            or self._throttle.paused_until(self._door, now) is not None
        ):
            return self._decide_locally(member, raw_card, pin, reader, mode, now)
        try:
            card = normalise_card(raw_card)
        except CardFormatError:
            return self._decide_locally(None, raw_card, pin, reader, mode, now)
        question = LmsQuestion(
            attempt=next(self._attempts),
            card=card,
            pin=pin,
            reader=reader,
            mode=mode,
            asked_at=now,
            local=member,
        )
        self._lms[0].ask(question)
        return question

    def conclude(self, question: LmsQuestion, answer: LmsAnswer | None, now: datetime) -> Decision:
        """The Decision for `question` from the LMS's answer, or from the offline policy when
        `answer` is None (the door's deadline passed) or carries no patron."""
        assert self._lms is not None, "conclude() follows a begin() that asked the LMS"
        verdict = self._lms[1].decide(question, answer, local_date(now), now)
        alarms: list[Event] = []
        decision = _with_more_time(
            self._after(
                Decision(verdict.reason is Reason.GRANTED, verdict.reason),
                question.local,
                question.card,
                question.reader,
                now,
                alarms,
            ),
            question.local,
        )
        self._log(
            decision,
            question.local,
            question.card,
            question.reader,
            question.mode,
            now,
            alarms,
            verdict.detail,
        )
        return decision

    def _refuse_empty_pin(
        self, member: Member | None, raw_card: str, reader: str, mode: DoorMode, now: datetime
    ) -> Decision:
        """`#` with no PIN typed: a wrong PIN, decided here (some LMSs accept a blank one)."""
        alarms: list[Event] = []
        decision = self._after(Decision.refuse(Reason.WRONG_PIN), member, raw_card, reader, now, alarms)
        self._log(decision, member, raw_card, reader, mode, now, alarms)
        return decision

    def _decide_locally(
        self,
        member: Member | None,
        raw_card: str,
        pin: str,
        reader: str,
        mode: DoorMode,
        now: datetime,
    ) -> Decision:
        alarms: list[Event] = []
        if self._throttle.paused_until(self._door, now) is not None:
            decision = Decision.refuse(Reason.READER_SLOWED)
        else:
            decision = decide(
                member,
                pin,
                mode,
                now,
                pin_matches=self._pin_matches,
                staff_allowed_when_closed=self._settings.staff_allowed_when_closed,
            )
            decision = _with_more_time(self._after(decision, member, raw_card, reader, now, alarms), member)
        self._log(decision, member, raw_card, reader, mode, now, alarms)
        return decision

    def _lookup(self, raw_card: str) -> Member | None:
        try:
            member = self._members.find_by_card(normalise_card(raw_card))
        except CardFormatError:
            return None
        return self._lockouts.apply(member) if member is not None else None

    def _pin_matches(self, member: Member, pin: str) -> bool:
        return self._hasher.verify(pin, member.pin_salt, member.pin_hash)

    def _after(
        self,
        decision: Decision,
        member: Member | None,
        raw_card: str,
        reader: str,
        now: datetime,
        alarms: list[Event],
    ) -> Decision:
        """Keep lockout and throttle state; the wrong PIN that locks the card says so at once.

        A lockout that follows another without a right PIN in between is an alarm: somebody
        keeps guessing at this card (its lockouts double, see PinLockouts)."""
        if decision.reason in _CYCLING_SIGNS:
            self._cycling_refusal(reader, now, alarms)
        if member is None:
            return decision
        if decision.reason is Reason.WRONG_PIN:
            until = self._lockouts.wrong_pin(member, now)
            if until is None:
                return decision
            in_a_row = self._lockouts.in_a_row(member)
            if in_a_row >= 2:
                alarms.append(
                    self._alarm(
                        AlarmReason.PIN_LOCKOUTS_ESCALATING,
                        now,
                        member_ref=member.patron_id,
                        card_hint=_hint(raw_card),
                        detail=f"lockout {in_a_row} in a row, locked for "
                        f"{(until - now).total_seconds() / 60:g} min",
                    )
                )
            return Decision.refuse(Reason.CARD_LOCKED)
        if decision.reason in PIN_PROVEN:
            self._lockouts.cleared(member)
        return decision

    def _cycling_refusal(self, reader: str, now: datetime, alarms: list[Event]) -> None:
        """Count a refusal that card cycling would cause; the first that slows the door down
        after a quiet window raises the alarm (the slowdown then refuses without counting)."""
        if self._slowdown_last is not None and now - self._slowdown_last >= self._window:
            self._slowdown_last = None  # a whole window without such a refusal: it is over
        self._throttle.record_failure(self._door, now)
        if self._slowdown_last is not None:
            self._slowdown_last = now
            return
        until = self._throttle.paused_until(self._door, now)
        if until is not None:
            self._slowdown_last = now
            alarms.append(
                self._alarm(
                    AlarmReason.CARD_CYCLING,
                    now,
                    detail=f"{READER_FIELD}{reader}: {self._settings.reader_failure_threshold} or "
                    f"more refusals within {self._window.total_seconds():g} s; readers slowed "
                    f"for {(until - now).total_seconds():g} s, doubling with each further one",
                )
            )

    def _alarm(
        self,
        reason: AlarmReason,
        now: datetime,
        *,
        member_ref: str | None = None,
        card_hint: str | None = None,
        detail: str | None = None,
    ) -> Event:
        return Event(
            type=EventType.ALARM,
            at=now,
            door=self._door,
            reason=reason.value,
            member_ref=member_ref,
            card_hint=card_hint,
            detail=detail,
        )

    def _log(
        self,
        decision: Decision,
        member: Member | None,
        raw_card: str,
        reader: str,
        mode: DoorMode,
        now: datetime,
        alarms: list[Event],
        more: str | None = None,
    ) -> None:
        """The attempt's event, then any alarm it raised (after it, as the log reads best)."""
        self._events.record(access_event(decision, member, raw_card, reader, mode, self._door, now, more))
        for alarm in alarms:
            self._events.record(alarm)


def _with_more_time(decision: Decision, member: Member | None) -> Decision:
    """A grant carries the member's "more time" from the local list, whoever decided it (the
    library system knows nothing of it): the door then unlocks and may stand open longer."""
    if decision.granted and member is not None and member.more_time:
        return replace(decision, more_time=True)
    return decision


def access_event(
    decision: Decision,
    member: Member | None,
    raw_card: str,
    reader: str,
    mode: DoorMode,
    door: str,
    at: datetime,
    more: str | None = None,
) -> Event:
    """One attempt's granted or refused event, as the log, the statistics and the fleet read it
    (the fleet simulator's made-up attempts are written with it too, so they read the same)."""
    return Event(
        type=EventType.ACCESS_GRANTED if decision.granted else EventType.ACCESS_REFUSED,
        at=at,
        door=door,
        reason=decision.reason.value,
        member_ref=member.patron_id if member else None,
        card_hint=_hint(raw_card),
        detail=f"{READER_FIELD}{reader} mode={mode.value}" + (f" {more}" if more else ""),
    )


def _hint(raw_card: str) -> str | None:
    """The last digits of the card as presented, for the log (never the whole number)."""
    digits = "".join(ch for ch in raw_card if ch.isdigit())
    return card_hint(digits) if digits else None
