"""What a patron id may be: one rule for the CSV import, POST /members, the API's member
addresses and the pages.

A patron id is 1 to 64 characters with no spaces and nothing controller/domain/text.py refuses
(control, bidi, byte-order mark, zero-width, unassigned). A `/` is allowed: the library
system's export decides what its ids look like, and the API's member routes take a `/` in the
address (`/members/A/1/block`, or `A%2F1`). The import once took ids that POST /members refused
and that no API address could reach.
"""

from __future__ import annotations

import re

from controller.domain.text import text_problem

PATRON_ID_MAX_LENGTH = 64
# The same rule as a JSON-schema pattern (the length is stated apart, as min/maxLength).
PATRON_ID_PATTERN = r"^[^\s\x00-\x1f\x7f]+$"
PATRON_ID_RULE = (
    f"a patron id is 1 to {PATRON_ID_MAX_LENGTH} characters without spaces, control or invisible characters"
)
_PRINTABLE_ASCII = re.compile(rf"[!-~]{{1,{PATRON_ID_MAX_LENGTH}}}")  # the usual id, at once


def patron_id_problem(value: str) -> str | None:
    """Why `value` cannot be a patron id (without echoing it; to follow "patron_id: "), or
    None when it can.

    Fast for the ids a library system exports (printable ASCII): the import checks a
    million of them.
    """
    if _PRINTABLE_ASCII.fullmatch(value):
        return None
    if not value:
        return f"must not be empty: {PATRON_ID_RULE}"
    if len(value) > PATRON_ID_MAX_LENGTH:
        return f"is longer than {PATRON_ID_MAX_LENGTH} characters: {PATRON_ID_RULE}"
    for position, char in enumerate(value, start=1):
        if char.isspace():
            return f"character {position} is a space, which is not allowed: {PATRON_ID_RULE}"
    return text_problem(value)


def checked_patron_id(value: str) -> str:
    """`value` unchanged, or ValueError naming the problem (for pydantic validators)."""
    problem = patron_id_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value
