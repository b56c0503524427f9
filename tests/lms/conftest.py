"""Fixtures for the SIP2 client tests: the real pysip2 server on loopback (with and without
login), the fault-injecting proxy in front of it, and pools that are closed after each test."""

from __future__ import annotations

import queue
import ssl
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from controller.config.lms import LmsSettings
from controller.config.settings import DoorSettings
from controller.domain.eligibility import EligibilityRules
from controller.domain.events import Event, EventType
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.door.loop import DoorLoop
from controller.door.machine import Door
from controller.door.ports import DoorOutputs, ModeChanged, Phase
from controller.services.access import Authorizer
from controller.services.lms import LmsAnswer, LmsLink, sip2_pool
from controller.services.lms_access import LmsDecider
from controller.sim.lms_server import LOGIN_PASSWORD, LOGIN_USER, RunningServer, build_server
from drivers.base import CardRead, KeyPress
from drivers.outputs import LockRelay
from drivers.sip2.connection import Sip2Settings
from drivers.sip2.pool import Sip2Pool
from tests.lms.fault_proxy import FaultProxy

HANG_GUARD = 10.0  # seconds: only ever reached when something is broken


@pytest.fixture
def lms() -> Iterator[RunningServer]:
    """pysip2's server with the demo members, no login required."""
    running = RunningServer(build_server())
    running.start()
    yield running
    running.stop()


@pytest.fixture
def lms_with_login() -> Iterator[RunningServer]:
    """pysip2's server that closes any connection whose first message is not a good login."""
    running = RunningServer(build_server(login_required=True))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def proxy(lms: RunningServer) -> Iterator[FaultProxy]:
    """The fault proxy in front of `lms`; passes everything until a test sets a fault."""
    fault_proxy = FaultProxy(lms.port)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def tls_proxy(lms: RunningServer, tls_files: tuple[Path, Path]) -> Iterator[FaultProxy]:
    """The proxy speaking TLS to the client (as a TLS-terminating LMS front would)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    fault_proxy = FaultProxy(lms.port, tls=context)
    yield fault_proxy
    fault_proxy.close()


def settings_for(port: int, **overrides: Any) -> Sip2Settings:
    """Settings for a loopback LMS with the demo server's institution and login."""
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "institution_id": "BIB"}
    if overrides.pop("login", False):
        values.update(login_user=LOGIN_USER, login_password=LOGIN_PASSWORD)
    return Sip2Settings(**{**values, **overrides})


@pytest.fixture
def make_pool() -> Iterator[Callable[..., Sip2Pool]]:
    """Build, start and (by default) wait for a pool; every pool is closed after the test."""
    pools: list[Sip2Pool] = []

    def make(settings: Sip2Settings, *, ready: bool = True, **options: Any) -> Sip2Pool:
        pool = Sip2Pool(settings, **options)
        pools.append(pool)
        pool.start()
        if ready:
            assert pool.wait_ready(HANG_GUARD, connections=pool.size), (
                f"pool never connected: {pool.last_error}"
            )
        return pool

    yield make
    for pool in pools:
        pool.close()


# --- the door in front of the LMS (test_door_lms.py) --------------------------------------------

RELAY_PIN = 17


class MemoryPinCache:
    """Cards and PINs the LMS accepted, in memory: the PinCache interface the door reads."""

    def __init__(self) -> None:
        self.pins: dict[str, str] = {}

    def check(self, card: str, pin: str, now: datetime) -> bool | None:
        return None if card not in self.pins else self.pins[card] == pin

    def remember(self, card: str, pin: str, now: datetime) -> None:
        self.pins[card] = pin

    def forget(self, card: str) -> None:
        self.pins.pop(card, None)


class LmsDoorBench:
    """A door on mock pins whose Authorizer asks the pysip2 server through the fault proxy."""

    def __init__(
        self,
        runtime: Any,
        clock: Any,
        factory: Any,
        server: RunningServer,
        proxy: FaultProxy,
        *,
        rules: EligibilityRules,
        policy: str,
        reply_timeout: float,
    ) -> None:
        self.runtime, self.clock, self.factory = runtime, clock, factory
        self.server, self.proxy = server, proxy
        self.conn = runtime.connection()
        self.events = runtime.events(self.conn)
        self.link_events: list[Event] = []
        self.messages: list[DoorMessage] = []
        self.cache = MemoryPinCache()
        settings = LmsSettings(
            enabled=True,
            port=proxy.port,
            institution="BIB",
            reply_timeout_seconds=reply_timeout,
            offline_policy=policy,
        )
        self.pool = sip2_pool(settings, clock)
        self.link = LmsLink(
            self.pool,
            timeout=reply_timeout,
            deliver=self._deliver,
            events=_ListSink(self.link_events),
            clock=clock,
            door="entrance",
        )
        hasher = runtime.hasher
        decider = LmsDecider(
            rules,
            policy,
            self.cache,  # type: ignore[arg-type]
            lambda member, pin: hasher.verify(pin, member.pin_salt, member.pin_hash),
        )
        authorizer = Authorizer(
            runtime.members(self.conn),
            self.events,
            hasher,
            runtime.settings.access,
            "entrance",
            lms=(self.link, decider),
        )
        self.relay = LockRelay(RELAY_PIN, pin_factory=factory)
        self.door = Door(
            authorizer,
            DoorOutputs(self.relay, _Signals(), self.messages.append),
            self.events,
            DoorSettings(),
            clock,
            "entrance",
            monotonic=clock.monotonic,
        )
        self.loop = DoorLoop(self.door, clock.monotonic)
        self._answers: queue.Queue[LmsAnswer] = queue.Queue()
        self.link.start()
        assert self.pool.wait_ready(HANG_GUARD), "the pool never connected to the test LMS"
        self.send(ModeChanged(DoorMode.OPENPLUS, "test"))

    def _deliver(self, answer: LmsAnswer) -> None:
        """The worker's answer goes to the loop's queue, as in the service (loop.submit)."""
        self.loop.submit(answer)
        self._answers.put(answer)

    def send(self, *items: Any) -> None:
        for item in items:
            self.loop.submit(item)
        self.loop.drain()

    def card(self, card: str) -> None:
        self.send(CardRead(card, "rfid"))

    def keys(self, text: str) -> None:
        self.send(*(KeyPress(key, "keypad") for key in text))

    def enter(self, card: str, pin: str) -> None:
        self.card(card)
        self.keys(pin + "#")

    def wait_answer(self, expect_decision: bool = True) -> None:
        """Wait (bounded) for the worker's answer, then let the door handle it."""
        self._answers.get(timeout=HANG_GUARD)
        self.loop.drain()
        if expect_decision:
            assert self.door.phase is not Phase.CHECKING

    def after(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)
        self.loop.run_once(wait=0)

    @property
    def relay_on(self) -> bool:
        return bool(self.factory.pin(RELAY_PIN).state)

    def access_events(self) -> list[Event]:
        kinds = (EventType.ACCESS_GRANTED, EventType.ACCESS_REFUSED)
        return [e for e in reversed(self.events.query(limit=100)) if e.type in kinds]

    def last_access(self) -> Event:
        return self.access_events()[-1]

    def close(self) -> None:
        self.link.close()
        self.relay.close()
        self.conn.close()


class _ListSink:
    def __init__(self, into: list[Event]) -> None:
        self._into = into

    def record(self, event: Event) -> None:
        self._into.append(event)


class _Signals:
    def show_granted(self) -> None: ...
    def show_refused(self) -> None: ...
    def beep(self, seconds: float | None = None, times: int = 1) -> None: ...
    def all_off(self) -> None: ...


@pytest.fixture
def lms_door(
    runtime: Any, clock: Any, mock_factory: Any, lms: RunningServer, proxy: FaultProxy
) -> Iterator[Callable[..., LmsDoorBench]]:
    """Build the door bench (rules default: patron class OPENPLUS means registered)."""
    benches: list[LmsDoorBench] = []

    def make(
        *, rules: EligibilityRules | None = None, policy: str = "cached", reply_timeout: float = 1.0
    ) -> LmsDoorBench:
        bench = LmsDoorBench(
            runtime,
            clock,
            mock_factory,
            lms,
            proxy,
            rules=rules or EligibilityRules(open_plus_classes=frozenset({"OPENPLUS"})),
            policy=policy,
            reply_timeout=reply_timeout,
        )
        benches.append(bench)
        return bench

    yield make
    for bench in benches:
        bench.close()
