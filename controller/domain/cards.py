"""Card numbers: one normal form whatever reader or file they came from, and a safe hint for logs."""

from __future__ import annotations

import re

CARD_RE = re.compile(r"\d{8,14}")
CARD_FORMAT_HELP = "8 to 14 digits (Wiegand 26: 8, EM4100/Wiegand 34: 10, library barcode: 14)"
_SEPARATORS = re.compile(r"[\s\-.]")


class CardFormatError(ValueError):
    """A string that is not a card number this system knows."""


def normalise_card(raw: str) -> str:
    """Digits only: spaces, dashes and dots (as printed on cards) are removed."""
    card = _SEPARATORS.sub("", raw)
    if not CARD_RE.fullmatch(card):
        raise CardFormatError(f"unknown card format: expected {CARD_FORMAT_HELP}")
    return card


def card_hint(card: str) -> str:
    """The last four digits, for logs and event rows: enough to tell cards apart, not to copy one."""
    return "…" + card[-4:]
