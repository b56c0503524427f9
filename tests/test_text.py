"""The one rule for typed text: what can hide or reorder text is refused, every script passes."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError

from controller.domain.text import PlainText, checked_text, text_problem


@pytest.mark.parametrize("value", ["A.B. de Vries", "Zoë Çelik-Ünal", "Анна", "李小龙", "O'Brien (2)", ""])
def test_names_of_every_script_pass(value: str) -> None:
    assert text_problem(value) is None
    assert checked_text(value) == value


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("evil\u202etxt.exe", "U+202E"),  # right-to-left override
        ("\ufeffAnna", "U+FEFF"),  # byte-order mark
        ("An\x00na", "U+0000"),  # NUL
        ("Anna\nBob", "U+000A"),  # a line break in a one-line field
        ("Zero\u200bwidth", "U+200B"),  # zero-width space
        ("iso\u2066late", "U+2066"),  # left-to-right isolate
        ("\ue000", "U+E000"),  # private use
    ],
)
def test_hiding_and_reordering_characters_are_refused_by_name(value: str, code: str) -> None:
    problem = text_problem(value)
    assert problem is not None and code in problem
    with pytest.raises(ValueError, match=re.escape(code)):
        checked_text(value)


def test_plain_text_fields_refuse_with_a_validation_error() -> None:
    class Label(BaseModel):
        label: PlainText

    assert Label(label="door display").label == "door display"
    with pytest.raises(ValidationError, match=re.escape("U+202E")):
        Label(label="a\u202eb")
