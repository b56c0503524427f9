"""The simulator's demo library system (`openplus-door simulate --lms`).

A real SIP2 server (pysip2's, see lms_server.py) on a free loopback port, in a thread of the
simulator, that knows the demo members the simulator creates (every card, PIN 1234) plus a few
patrons only the library system knows, each showing one answer the eligibility rules refuse.
The branch then runs with `[lms]` pointed at it, so every card and PIN at the simulated door
goes over SIP2; `lms down` and `lms up` at the console stop and start it, to watch the offline
policy decide. No real personal data: fake cards (prefix 2999), no names, made-up dates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta

from controller.config.settings import Settings
from controller.domain.eligibility import CARD_LOST_POSITION, STATUS_POSITIONS
from controller.domain.members import NEVER, Category, MemberRow
from controller.services.demo import DEMO_PIN, barcode, demo_members
from controller.sim.lms_server import LOGIN_PASSWORD, LOGIN_USER, DemoMember, RunningServer, build_server

HOST = "127.0.0.1"
INSTITUTION = "BIB"  # the demo server's institution id (AO)
OPEN_PLUS_CLASS = "OPENPLUS"  # the patron class (PC) that means "registered for Open+"
ORDINARY_CLASS = "LID"  # a member who has not signed up for Open+
MINOR_AGE = 15  # years: the age of the demo library system's under-18 patrons
LMS_ONLY_FIRST = 9_000_000_001  # barcode(n) from here: far above any demo member's number


def _sip_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _status(*positions: int) -> str:
    return "".join("Y" if n in positions else " " for n in range(STATUS_POSITIONS))


def lms_record(card: str, row: MemberRow, today: date) -> DemoMember:
    """How the library system knows one demo member of the local list: the same PIN, a birth
    date that matches its `adult_on`, its expiry, and the Open+ patron class only when it
    signed up. A local entry block stays local (a manager's block, not the library's)."""
    born = _years_before(today, MINOR_AGE) if row.adult_on == NEVER else _years_before(row.adult_on, 18)
    return DemoMember(
        card,
        row.pin or DEMO_PIN,
        birth_date=_sip_date(born),
        patron_class=OPEN_PLUS_CLASS if row.openplus_registered_on is not None else ORDINARY_CLASS,
        expiry=_sip_date(row.valid_until),
    )


def lms_only_patrons(today: date) -> list[tuple[DemoMember, str]]:
    """Patrons the library system alone knows (not on the local list), with what each shows."""
    adult, expiry = _sip_date(_years_before(today, 30)), _sip_date(today + timedelta(days=365))
    card = iter(barcode(number) for number in range(LMS_ONLY_FIRST, LMS_ONLY_FIRST + 10))
    return [
        (
            DemoMember(next(card), DEMO_PIN, adult, OPEN_PLUS_CLASS, expiry),
            "Open+ patron the library system alone knows: may enter",
        ),
        (
            DemoMember(next(card), DEMO_PIN, adult, OPEN_PLUS_CLASS, expiry, _status(CARD_LOST_POSITION)),
            "card reported lost",
        ),
        (
            DemoMember(
                next(card), DEMO_PIN, _sip_date(_years_before(today, MINOR_AGE)), OPEN_PLUS_CLASS, expiry
            ),
            f"under 18 (aged {MINOR_AGE})",
        ),
        (
            DemoMember(next(card), DEMO_PIN, adult, OPEN_PLUS_CLASS, _sip_date(today - timedelta(days=30))),
            "membership expired",
        ),
        (
            DemoMember(next(card), DEMO_PIN, adult, ORDINARY_CLASS, expiry),
            f"patron class {ORDINARY_CLASS}, not {OPEN_PLUS_CLASS}: not signed up for Open+",
        ),
    ]


def lms_members(rows: Iterable[MemberRow], today: date) -> dict[str, DemoMember]:
    """Every card of the demo members (barcode and RFID tag) plus the LMS-only patrons. Staff
    cards are left out: the library system does not know a cleaner's card, the local list does."""
    members = {
        card: lms_record(card, row, today)
        for row in rows
        if row.category == Category.MEMBER
        for card in row.cards
    }
    members.update((patron.barcode, patron) for patron, _ in lms_only_patrons(today))
    return members


def lms_patron_lines(today: date) -> list[str]:
    """The LMS-only demo patrons to try, a line each (as demo_card_lines prints the demo cards)."""
    return [f"  {patron.barcode}  {what}" for patron, what in lms_only_patrons(today)]


class DemoLms:
    """The demo library system of one simulator run: start(), down(), up(), stop()."""

    def __init__(self, member_count: int, today: date, charset: str = "cp850") -> None:
        self.today = today
        # pysip2 logs each connection at INFO: noise between the door's lines at the console.
        logging.getLogger("pysip2").setLevel(logging.WARNING)
        members = lms_members(demo_members(member_count, today), today)
        self._server = RunningServer(build_server(members, login_required=True, encoding=charset), HOST)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def running(self) -> bool:
        return self._server.is_running

    def start(self) -> int:
        """Listen on a free loopback port; the port."""
        return self._server.start()

    def down(self) -> str:
        """Stop answering: the listener and every open connection close (a crashed LMS)."""
        if not self.running:
            return "the demo library system is already down"
        self._server.stop()
        return f"demo library system DOWN (port {self.port} closed): the offline policy decides"

    def up(self) -> str:
        """Listen again on the same port; the door's pool reconnects in the background."""
        if self.running:
            return f"the demo library system is already up on {HOST}:{self.port}"
        self._server.start()
        return f"demo library system UP on {HOST}:{self.port}; the door reconnects within seconds"

    def status(self) -> str:
        state = "up" if self.running else "DOWN"
        return f"demo library system {state} on {HOST}:{self.port} (SIP2, login {LOGIN_USER})"

    def demo_lines(self) -> list[str]:
        """Where the demo library system is and whom it knows (after the demo cards' lines)."""
        return [
            f"{self.status()}. It knows the demo members' cards (`demo` lists them) and these "
            f"patrons only it knows (every PIN {DEMO_PIN}):",
            *lms_patron_lines(self.today),
        ]

    def stop(self) -> None:
        self._server.stop()

    def settings_for(self, settings: Settings) -> Settings:
        """`settings` with `[lms]` pointed at this server (its login and institution, its
        charset) and `[eligibility]` taking its Open+ patron class. The rest of both sections
        (offline policy, cache days, timeouts, age, ...) stays as configured, so a config file
        can try other policies against the demo."""
        lms = settings.lms.model_validate(
            {
                **settings.lms.model_dump(),
                "enabled": True,
                "host": HOST,
                "port": self.port,
                "tls": False,
                "ca_file": None,
                "login_user": LOGIN_USER,
                "login_password": LOGIN_PASSWORD,
                "institution": INSTITUTION,
            }
        )
        eligibility = settings.eligibility.model_validate(
            {**settings.eligibility.model_dump(), "open_plus_patron_classes": [OPEN_PLUS_CLASS]}
        )
        return settings.model_copy(update={"lms": lms, "eligibility": eligibility})
