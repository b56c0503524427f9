"""Generated demo members: fake initials, fake cards, no real personal data, ever.

Deterministic, so the README can name cards to try: every demo PIN is 1234, and the first six
patrons show each kind of member (see DEMO_CARDS).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from controller.domain.members import NEVER, Category, MemberRow

DEMO_PIN = "1234"
BARCODE_PREFIX = "2999"  # not issued to real library cards in this project's demos


def barcode(number: int) -> str:
    return f"{BARCODE_PREFIX}{number:010d}"


def rfid_tag(number: int) -> str:
    """A 10-digit EM4100 tag number, as an RDM6300 reader reports it."""
    return f"{5_000_000 + number:010d}"


DEMO_CARDS = {
    barcode(1): "member, may enter in Open+ hours",
    barcode(2): "member, entry blocked",
    barcode(3): "member, card expired",
    barcode(4): "member, not signed up for Open+",
    barcode(5): "member, under 18",
    barcode(6): "staff (cleaner) card",
}


def demo_card_lines() -> list[str]:
    """The demo cards to try, a line each: `demo-members` and the simulator's `demo` both
    print these, so they cannot list different cards."""
    return [f"  {card}  {what}" for card, what in DEMO_CARDS.items()]


def demo_members(count: int, today: date, seed: int = 2026) -> list[MemberRow]:
    """`count` members; the first six cover every status, the rest are mostly ordinary members."""
    rng = random.Random(seed)
    rows = []
    for number in range(1, count + 1):
        kind = number if number <= 6 else rng.choices([1, 2, 3, 4, 5], [90, 2, 3, 4, 1])[0]
        initials = ".".join(rng.choice("ABCDEFGHIJKLMNOPRSTVWZ") for _ in range(2)) + "."
        rows.append(
            MemberRow(
                patron_id=f"DEMO{number:06d}",
                display_name=f"{initials} (demo)",
                cards=(barcode(number), rfid_tag(number)),
                adult_on=NEVER if kind == 5 else today - timedelta(days=365 * rng.randint(1, 60)),
                valid_until=today - timedelta(days=10) if kind == 3 else today + timedelta(days=365),
                openplus_registered_on=None if kind == 4 else today - timedelta(days=rng.randint(1, 700)),
                entry_blocked=kind == 2,
                category=Category.STAFF if kind == 6 else Category.MEMBER,
                pin=DEMO_PIN,
            )
        )
    return rows
