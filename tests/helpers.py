"""Small builders shared by tests (no fixtures here: import what you need)."""

from __future__ import annotations

from contextlib import closing
from datetime import date, timedelta

from controller.domain.members import Category, Member, MemberRow
from controller.services.runtime import Runtime

HEADER = "patron_id;cards;name;birth_date;openplus_registered;valid_until;blocked;category;pin"


def member_row(number: int, **changes) -> MemberRow:
    """An ordinary adult Open+ member with PIN 1234 and card 2999000000000N."""
    fields = dict(
        patron_id=f"P{number:05d}",
        display_name=f"T.{number}.",
        cards=(f"{2999_0000_000000 + number}",),
        adult_on=date(2000, 1, 1),
        valid_until=date(2030, 1, 1),
        openplus_registered_on=date(2025, 1, 1),
        category=Category.MEMBER,
        pin="1234",
    )
    fields.update(changes)
    return MemberRow(**fields)


def add_member(runtime: Runtime, number: int = 1, **changes) -> Member:
    """member_row(number, **changes) stored straight into the runtime's database at its clock
    (no member list, no audit event): for tests of what happens to a member afterwards."""
    with closing(runtime.connection()) as conn:
        return runtime.members(conn).add(member_row(number, **changes), runtime.clock())


def member_row_on(day: date, number: int, **changes) -> MemberRow:
    """member_row for a door on the real clock (day: its today): signed up for Open+ a year
    before `day` and valid a year after it. member_row's fixed dates (signed up 2025-01-01,
    valid until 2030-01-01) would refuse the member before 2025 and from 2030 on."""
    dates = dict(openplus_registered_on=day - timedelta(days=365), valid_until=day + timedelta(days=365))
    return member_row(number, **{**dates, **changes})


def csv_line(number: int, pin: str = "1234", **overrides: str) -> str:
    values = dict(
        patron_id=f"P{number:05d}",
        cards=f"{2999_0000_000000 + number}",
        name=f"T.{number}.",
        birth_date="1980-05-01",
        openplus_registered="2025-01-01",
        valid_until="2030-01-01",
        blocked="nee",
        category="member",
        pin=pin,
    )
    values.update(overrides)
    return ";".join(values[c] for c in HEADER.split(";"))


def csv_file(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *lines)) + "\n").encode("utf-8")
