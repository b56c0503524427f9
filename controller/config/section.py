"""The base of every configuration section: unknown keys are errors and values never change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic_core import ErrorDetails


class Section(BaseModel):
    """A section of openplus-door.toml: a typo'd key is refused by name, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_problem(error: ErrorDetails) -> str:
    """One validation error as a ConfigError names it: the dotted key, then what is wrong (the
    branch's settings and the fleet console's read the same)."""
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: required value is missing"
    return f"{key}: {error['msg']} (got {error.get('input')!r})"
