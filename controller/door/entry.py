"""The member's attempt at the door: card, PIN, decision (or the library system's answer),
and what the door does with it. A part of the door state machine (machine.py `Door`), kept
in its own module; it runs on the door loop's thread like the rest of `Door`.
"""

from __future__ import annotations

from datetime import datetime

from controller.config.settings import DoorSettings
from controller.domain import messages
from controller.domain.clock import Monotonic
from controller.domain.decision import Decision, Reason
from controller.domain.messages import PROMPT_CARD, PROMPT_PIN, DoorMessage, door_message
from controller.domain.modes import DoorMode
from controller.door.occupancy import Counting
from controller.door.ports import DoorOutputs, Phase
from controller.services.access import Authorizer
from controller.services.lms import LmsAnswer, LmsQuestion
from drivers.base import CardRead, KeyPress

MAX_PIN_KEYS = 8
LMS_MARGIN_SECONDS = 0.25  # past the LMS timeout before the door stops waiting for the worker


class EntryFlow:
    """Card -> PIN -> decision -> open or say why not; `Door` provides the state and outputs."""

    mode: DoorMode
    phase: Phase
    _auth: Authorizer
    _cfg: DoorSettings
    _out: DoorOutputs
    _mono: Monotonic
    _counting: Counting
    _card: CardRead | None
    _keys: str
    _pin_deadline: float | None
    _question: LmsQuestion | None  # the attempt the LMS is checking
    _lms_deadline: float | None

    def _say(self, message: DoorMessage, hold: bool = False) -> None:
        raise NotImplementedError  # Door's

    def _pulse(self, more_time: bool = False) -> None:
        raise NotImplementedError  # Door's

    def _operate(self) -> None:
        raise NotImplementedError  # Door's

    @property
    def _door_free(self) -> bool:
        return self.mode is DoorMode.STAFFED and self._cfg.staffed_door_free

    def _card_read(self, read: CardRead, now: datetime) -> None:
        if self.phase is Phase.CHECKING:
            return  # one attempt at a time: this one is with the library system
        if self._door_free:  # staffed: open to all, so any card also starts the door operator
            self._operate()  # for someone who cannot push the door (it is unlocked anyway)
            self._say(messages.DOOR_FREE)
            return
        self._card, self._keys = read, ""
        if self.mode.is_closed and not self._auth.staff_allowed_when_closed:
            self._decide(now)  # refused at once for the mode; no PIN asked at night
            return
        self.phase = Phase.AWAITING_PIN
        self._pin_deadline = self._mono() + self._cfg.pin_timeout_seconds
        self._say(PROMPT_PIN, hold=True)

    def _key(self, press: KeyPress, now: datetime) -> None:
        if self.phase is Phase.CHECKING:
            return  # the PIN is being checked; the display says so
        if self.phase is not Phase.AWAITING_PIN:
            self._say(PROMPT_CARD)
            return
        self._out.signals.beep(self._cfg.key_beep_seconds)
        self._pin_deadline = self._mono() + self._cfg.pin_timeout_seconds
        if press.key == "*":
            self._keys = ""
        elif press.key == "#":
            self._decide(now)
        elif len(self._keys) < MAX_PIN_KEYS:
            self._keys += press.key

    def _decide(self, now: datetime) -> None:
        card, pin = self._card, self._keys
        assert card is not None
        self._keys = ""
        outcome = self._auth.begin(card.card, pin, card.reader, self.mode, now)
        if isinstance(outcome, LmsQuestion):
            timeout = self._auth.lms_timeout or 0.0
            self.phase, self._question, self._pin_deadline = Phase.CHECKING, outcome, None
            self._lms_deadline = self._mono() + timeout + LMS_MARGIN_SECONDS
            self._say(messages.CHECKING, hold=True)
            return
        self._act(outcome)

    def _lms_answered(self, answer: LmsAnswer | None, now: datetime) -> None:
        """The LMS's answer to the attempt waiting for it (None: the deadline passed). An
        answer to an attempt no longer waiting (timed out, mode changed) is dropped."""
        question = self._question
        if question is None or (answer is not None and answer.attempt != question.attempt):
            return
        self._question, self._lms_deadline = None, None
        self.phase = Phase.AWAITING_PIN  # the attempt's state until _act says otherwise
        self._act(self._auth.conclude(question, answer, now))

    def _act(self, decision: Decision) -> None:
        """Open, or say why not: the lock first, lights, LEDs and text follow."""
        if decision.granted:
            self._pulse(decision.more_time)  # the lock first; operator, lights, LEDs, text follow
            self._counting.granted(self.mode, self._card.card if self._card else None)
            self._operate()
            self._reset_entry()
            self._say(door_message(decision.reason))
            self._out.signals.show_granted()
            if self.mode is DoorMode.OPENPLUS and self._out.lights is not None:
                self._out.lights.on()  # nobody walks into a dark building
            return
        self._out.signals.show_refused()
        self._say(door_message(decision.reason))
        if decision.reason is Reason.WRONG_PIN:  # same card, try the PIN again
            self.phase = Phase.AWAITING_PIN
            self._pin_deadline = self._mono() + self._cfg.pin_timeout_seconds
        else:
            self._reset_entry()

    def _reset_entry(self) -> None:
        self._card, self._keys, self._pin_deadline = None, "", None
        self._question, self._lms_deadline = None, None
        if self.phase in (Phase.AWAITING_PIN, Phase.CHECKING):
            self.phase = Phase.IDLE
