"""Text that one person types and others read (names, labels, notes): one rule for all of it.

Refused: control characters (NUL, escape, line breaks in a one-line field), invisible format
characters (a byte-order mark, zero-width spaces, the bidi overrides and isolates that make
"evil\u202eexe.txt" read as "eviltxt.exe") and unassigned or private code points. Letters,
accents, digits, punctuation and spaces of every script pass.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def text_problem(value: str) -> str | None:
    """Why `value` is not acceptable text, naming the first bad character; None when it is."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            name = unicodedata.name(char, "control or unassigned character")
            return f"character {position} is U+{ord(char):04X} ({name}), which is not allowed"
    return None


def checked_text(value: str) -> str:
    """`value` unchanged, or ValueError saying which character is refused (for validators)."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


PlainText = Annotated[str, AfterValidator(checked_text)]
"""A str field that refuses control, format (bidi, BOM, zero-width) and unassigned characters."""
