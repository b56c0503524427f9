"""The base of every configuration section: unknown keys are errors and values never change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A section of openplus-door.toml: a typo'd key is refused by name, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
