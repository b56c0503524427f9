"""A real SIP2 server for the simulator (`simulate --lms`, see demo_lms.py), the tests and the
benchmark: pysip2's AnyIO server (PyPI, not ours) with handlers answering from demo members.

pysip2 0.1.0 models only the standard fields, so the common extensions an LMS adds to 24/64
(PB birth date, PC patron class, PA expiry) are added the way its codec is built: a subclass
of the response model with the extra fields, registered in pysip2's spec table. Its server
still does all the framing, AY/AZ, resends (97) and login gating itself.

Run it alone (the benchmark does): `python -m controller.sim.lms_server [--port N] [--login]` prints
`listening PORT` and serves until killed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import SocketAttribute
from anyio.from_thread import start_blocking_portal
from pysip2 import (
    LOGIN,
    PATRON_INFORMATION,
    PATRON_STATUS,
    SC_STATUS,
    ACSStatusResponse,
    LoginRequest,
    LoginResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RequestContext,
    SCStatusRequest,
    SIP2Server,
)
from pysip2.models import MESSAGE_SPECS_BY_TYPE, MessageSpec, ident, spec_for_type

EXTENSION_FIELDS = (
    ident("birth_date", "PB"),
    ident("patron_class", "PC"),
    ident("expiry", "PA"),
)


class PatronStatusWithExtensions(PatronStatusResponse, frozen=True, kw_only=True):
    """24 plus PB/PC/PA; CQ may be sent empty (as some LMSs do for unknown cards)."""

    valid_patron_password: str | None = None
    birth_date: str | None = None
    patron_class: str | None = None
    expiry: str | None = None


class PatronInformationWithExtensions(PatronInformationResponse, frozen=True, kw_only=True):
    """64 plus PB/PC/PA; CQ may be sent empty."""

    valid_patron_password: str | None = None
    birth_date: str | None = None
    patron_class: str | None = None
    expiry: str | None = None


for _base, _extended in (
    (PatronStatusResponse, PatronStatusWithExtensions),
    (PatronInformationResponse, PatronInformationWithExtensions),
):
    _spec = spec_for_type(_base)
    MESSAGE_SPECS_BY_TYPE[_extended] = MessageSpec(
        _spec.command_id, _extended, _spec.fields + EXTENSION_FIELDS
    )


@dataclass(frozen=True)
class DemoMember:
    """One patron as the LMS knows it; status is the 14-position patron status."""

    barcode: str
    pin: str
    birth_date: str | None = "19900501"
    patron_class: str | None = "OPENPLUS"
    expiry: str | None = "20300101"
    status: str = " " * 14


def _status(*positions: int) -> str:
    return "".join("Y" if n in positions else " " for n in range(14))


DEMO_MEMBERS: dict[str, DemoMember] = {
    member.barcode: member
    for member in (
        DemoMember("29990000000001", "1234"),
        DemoMember("29990000000002", "2345", status=_status(4)),  # card reported lost
        DemoMember("29990000000003", "3456", birth_date="20140302", patron_class="JEUGD"),
        DemoMember("29990000000004", "4567", expiry="20200101"),
        DemoMember("29990000000005", "5678", status=_status(0, 2, 10)),  # charge, recall, fines
        DemoMember("29990000000006", "6789", birth_date=None, patron_class=None, expiry=None),
    )
}
LOGIN_USER = "door"
LOGIN_PASSWORD = "s3cret"


@dataclass
class SeenRequests:
    """What the server received, by command id (thread-safe: handlers run on the server loop)."""

    commands: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, command: str) -> None:
        with self.lock:
            self.commands.append(command)

    def count(self, command: str) -> int:
        with self.lock:
            return self.commands.count(command)


def build_server(
    members: dict[str, DemoMember] = DEMO_MEMBERS,
    *,
    login_required: bool = False,
    empty_cq_for_unknown: bool = False,
    encoding: str = "cp850",
    seen: SeenRequests | None = None,
) -> SIP2Server:
    """pysip2's server with 93/99/23/63 handlers answering from `members`."""
    server = SIP2Server(encoding=encoding, login_required=login_required, institution_id="BIB")
    seen = seen if seen is not None else SeenRequests()

    def answer(barcode: str, pin: str | None) -> dict[str, object]:
        member = members.get(barcode)
        if member is None:
            return {
                "patron_status": " " * 14,
                "valid_patron": "N",
                "valid_patron_password": "" if empty_cq_for_unknown else None,
                "screen_message": ("Onbekende pas",),
            }
        return {
            "patron_status": member.status,
            "valid_patron": "Y",
            "valid_patron_password": "Y" if pin == member.pin else "N",
            "birth_date": member.birth_date,
            "patron_class": member.patron_class,
            "expiry": member.expiry,
        }

    @server.route(LOGIN)
    async def login(req: LoginRequest, ctx: RequestContext[LoginRequest, LoginResponse]) -> LoginResponse:
        seen.add("93")
        accepted = req.login_user_id == LOGIN_USER and req.login_password == LOGIN_PASSWORD
        return LoginResponse(ok="1" if accepted else "0")

    @server.route(SC_STATUS)
    async def sc_status(
        req: SCStatusRequest, ctx: RequestContext[SCStatusRequest, ACSStatusResponse]
    ) -> ACSStatusResponse:
        seen.add("99")
        return ctx.server.build_acs_status(req)

    @server.route(PATRON_STATUS)
    async def patron_status(
        req: PatronStatusRequest, ctx: RequestContext[PatronStatusRequest, PatronStatusResponse]
    ) -> PatronStatusResponse:
        seen.add("23")
        return PatronStatusWithExtensions(
            language=req.language,
            transaction_date=ctx.now_18(),
            institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
            personal_name="Demo Lid",
            **answer(req.patron_identifier, req.patron_password),  # type: ignore[arg-type]  # the msgspec model takes the field values as object
        )

    @server.route(PATRON_INFORMATION)
    async def patron_information(
        req: PatronInformationRequest,
        ctx: RequestContext[PatronInformationRequest, PatronInformationResponse],
    ) -> PatronInformationResponse:
        seen.add("63")
        counts = {
            name: "0000"
            for name in (
                "hold_items_count",
                "overdue_items_count",
                "charged_items_count",
                "fine_items_count",
                "recall_items_count",
                "unavailable_holds_count",
            )
        }
        # The msgspec model takes its field values untyped here: counts and the answer's fields.
        fields: dict[str, Any] = {**counts, **answer(req.patron_identifier, req.patron_password)}
        return PatronInformationWithExtensions(
            language=req.language,
            transaction_date=ctx.now_18(),
            institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
            personal_name="Demo Lid",
            home_address="Dorpsstraat 1",
            **fields,
        )

    server.seen = seen  # type: ignore[attr-defined]  # the tests' record, carried on pysip2's server
    return server


class RunningServer:
    """A pysip2 server on loopback in a background thread (AnyIO blocking portal).

    `stop()` closes the listener and every open connection; `start()` again binds the same port,
    so `stop(); start()` is a server restart as a client sees it.
    """

    def __init__(self, server: SIP2Server, host: str = "127.0.0.1") -> None:
        self.server = server
        self.host = host
        self.port = 0
        self._stack: ExitStack | None = None

    @property
    def seen(self) -> SeenRequests:
        return self.server.seen  # type: ignore[attr-defined]  # set by build_server

    @property
    def is_running(self) -> bool:
        """Listening (between start() and stop())."""
        return self._stack is not None

    def start(self) -> int:
        assert self._stack is None, "already running"
        stack = ExitStack()
        portal = stack.enter_context(start_blocking_portal())
        self.port = stack.enter_context(portal.wrap_async_context_manager(self._serving()))
        self._stack = stack
        return self.port

    @asynccontextmanager
    async def _serving(self) -> AsyncIterator[int]:
        """Like pysip2's `SIP2Server.start()`, but closing the listening socket on exit: 0.1.0's
        start() cancels the accept loop and leaves the listener open, so a stopped server would
        still accept connections (and the port could not be bound again)."""
        listener = await self.server.listen(self.host, self.port)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(listener.serve, self.server._handle_connection)
                try:
                    yield listener.extra(SocketAttribute.local_port)
                finally:
                    group.cancel_scope.cancel()
        finally:
            await listener.aclose()

    def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()

    def restart(self) -> None:
        self.stop()
        self.start()


def main(argv: list[str]) -> None:
    """Serve the demo members until killed; print `listening PORT` once bound. `--login`
    requires the demo SIP2 login (LOGIN_USER / LOGIN_PASSWORD) first."""
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 0
    running = RunningServer(build_server(login_required="--login" in argv))
    running.port = port
    print(f"listening {running.start()}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
