"""The library system behind the door: questions asked on worker threads, answers posted back.

The door thread never waits on a network peer. It hands an `LmsQuestion` to `LmsLink.ask`,
which returns at once; a worker asks the LMS through the SIP2 pool (kept-alive, logged-in
connections) and posts an `LmsAnswer` through `deliver` (the door loop's queue). The door
keeps its own monotonic deadline: an answer that comes too late is simply ignored, and the
offline policy decides in its place.

The link also watches the pool: losing every connection and getting one back are events, once
each, so security can see when the door ran on its offline policy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from controller.config.lms import LmsSettings
from controller.domain.cards import card_hint
from controller.domain.clock import BRANCH_TZ, Clock
from controller.domain.eligibility import LmsPatron
from controller.domain.events import Event, EventSink, EventType, LmsLinkReason
from controller.domain.members import Member
from controller.domain.modes import DoorMode
from drivers.sip2 import LmsUnavailable, PatronReply, Sip2Pool, Sip2Settings

log = logging.getLogger(__name__)

WATCH_SECONDS = 2.0  # how often the link looks at the pool's connections


@dataclass(frozen=True)
class LmsQuestion:
    """One attempt waiting for the LMS; the PIN is here in transit only (never in the repr)."""

    attempt: int
    card: str  # normalised
    pin: str = field(repr=False)
    reader: str
    mode: DoorMode
    asked_at: datetime
    local: Member | None  # the card's entry in the local list, if any


@dataclass(frozen=True)
class LmsAnswer:
    """What came back for attempt `attempt`: a patron, or why there is none (`failure`)."""

    attempt: int
    patron: LmsPatron | None
    failure: str | None = None  # LmsUnavailable's reason code when patron is None


def to_patron(reply: PatronReply) -> LmsPatron:
    """The parts of a SIP2 reply the eligibility rules read (nothing else is kept)."""
    return LmsPatron(
        valid_patron=reply.valid_patron,
        valid_pin=reply.valid_pin,
        status=tuple(reply.status),
        birth_date=reply.birth_date,
        patron_class=reply.patron_class or None,
        expires_on=reply.expiry,
    )


class LmsLink:
    """Asks the LMS without blocking the caller and reports the link going down and back."""

    def __init__(
        self,
        pool: Sip2Pool,
        *,
        timeout: float,
        deliver: Callable[[LmsAnswer], None],
        events: EventSink,
        clock: Clock,
        door: str,
        workers: int = 2,
    ) -> None:
        """`deliver` is called on a worker thread with every answer (the door loop's submit);
        `events` must not block (the door's event writer)."""
        self._pool = pool
        self._timeout = timeout
        self._deliver = deliver
        self._events = events
        self._clock = clock
        self._door = door
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lms")
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="lms-watch", daemon=True)
        self._up: bool | None = None  # unknown until the first look
        self._lock = threading.Lock()
        # Told each check's seconds and failure code (None: answered), on the worker thread:
        # the door process's /metrics counters (DoorMetrics.lms_checked). Must be quick.
        self.on_checked: Callable[[float, str | None], None] | None = None
        # When the LMS was last known to answer: a patron answer, or the pool holding a
        # connection (it logs in and keeps each one alive with SC status heartbeats, and drops
        # the ones that stop answering). The fleet's state message reports it.
        self.last_contact: datetime | None = None

    @property
    def timeout(self) -> float:
        return self._timeout

    def start(self) -> None:
        self._pool.start()
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._pool.close()
        if self._watcher.is_alive():
            self._watcher.join(timeout=2.0)

    def ask(self, question: LmsQuestion) -> None:
        """Start the check and return at once; the answer arrives through `deliver`."""
        try:
            self._workers.submit(self._check, question)
        except RuntimeError:  # shut down: the door's deadline and offline policy decide
            log.info("LMS link closed; attempt %d left to the offline policy", question.attempt)

    def _check(self, question: LmsQuestion) -> None:
        started = time.monotonic()
        try:
            reply = self._pool.check_patron(question.card, question.pin, self._timeout)
            answer = LmsAnswer(question.attempt, to_patron(reply))
        except LmsUnavailable as exc:
            answer = LmsAnswer(question.attempt, None, exc.reason)
        except ValueError as exc:  # a card or PIN SIP2 cannot carry: nothing was sent
            log.info("card %s not sent to the LMS: %s", card_hint(question.card), exc)
            answer = LmsAnswer(question.attempt, None, "not_sendable")
        except Exception:  # a bug here must still answer the door
            log.exception("LMS check failed")
            answer = LmsAnswer(question.attempt, None, "error")
        if self.on_checked is not None:
            try:
                self.on_checked(time.monotonic() - started, answer.failure)
            except Exception:  # the door still gets its answer
                log.exception("LMS check timing failed")
        self.note_link(answer.patron is not None or self._pool.connected > 0)
        self._deliver(answer)

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            self.note_link(self._pool.connected > 0)

    def note_link(self, up: bool) -> None:
        """Log the link going down or coming back, once per change (the first look sets it)."""
        if up:
            self.last_contact = self._clock()
        with self._lock:
            before, self._up = self._up, up
        if before is None and up or before == up:
            return
        reason = LmsLinkReason.LMS_BACK if up else LmsLinkReason.LMS_LOST
        detail = None if up else str(self._pool.last_error or "no connection")
        self._events.record(
            Event(
                type=EventType.LMS_LINK, at=self._clock(), door=self._door, reason=reason.value, detail=detail
            )
        )


def sip2_settings(settings: LmsSettings) -> Sip2Settings:
    """The SIP2 client's settings from `[lms]` (the pool's, and `doctor`'s one-off SC status)."""
    return Sip2Settings(
        host=settings.host,
        port=settings.port,
        institution_id=settings.institution,
        terminal_password=settings.terminal_password,
        login_user=settings.login_user or None,
        login_password=settings.login_password,
        location_code=settings.location or None,
        charset=settings.charset,
        tls=settings.tls,
        ca_file=str(settings.ca_file) if settings.ca_file else None,
        connect_timeout=settings.connect_timeout_seconds,
        reply_timeout=settings.reply_timeout_seconds,
        patron_message="63" if settings.check == "patron_information" else "23",
    )


def sip2_pool(settings: LmsSettings, clock: Clock) -> Sip2Pool:
    """The SIP2 pool `settings` describe; the transaction dates it sends are branch time."""
    sip2 = sip2_settings(settings)
    return Sip2Pool(
        sip2,
        size=settings.connections,
        heartbeat_interval=settings.heartbeat_seconds,
        wall_clock=lambda: clock().astimezone(BRANCH_TZ).replace(tzinfo=None),
    )
