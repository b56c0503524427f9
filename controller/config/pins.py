"""GPIO pin settings shared by every section that wires a device: a BCM number or a name.

In a module of its own so sections outside settings.py (the people counter) use the same
check without importing settings.py, which imports them.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

MAX_BCM_PIN = 53  # the BCM GPIO numbers a Raspberry Pi has


def number_or_name(meaning: str, maximum: int) -> BeforeValidator:
    """A before-validator for an `int | str` setting (a pin, a camera): numbers are checked
    here, so `1e15` or `inf` get one clear message instead of one per member of the union."""

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        whole = isinstance(value, int) or (math.isfinite(value) and value.is_integer())
        if not whole or not 0 <= value <= maximum:
            raise PydanticCustomError("number_or_name", "{meaning}", {"meaning": meaning})
        return int(value)

    return BeforeValidator(check)


Pin = Annotated[
    int | str,
    number_or_name(f"a pin is a BCM number 0-{MAX_BCM_PIN} or a name such as 'GPIO17'", MAX_BCM_PIN),
]
