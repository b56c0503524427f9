"""Short plain-language door messages, Dutch first: many members read little or are older.

The words are in the string catalog under `display.*` (controller/domain/strings/*.toml); a
DoorMessage carries both languages because the door's display shows them together. All fixed
messages are built here once, at import, so the door thread only picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.domain.catalog import render
from controller.domain.decision import Reason


@dataclass(frozen=True)
class DoorMessage:
    nl: str
    en: str
    # The catalog key and placeholder values it was rendered from ("" for a message that came
    # over the door link as text): the LCD, the screen and the voice pick their own rendering
    # (a sound file per key) from them. Not part of equality: the words are the message.
    key: str = field(default="", compare=False)
    values: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.nl} / {self.en}"

    @classmethod
    def of(cls, key: str, **values: object) -> DoorMessage:
        """The catalog's text for `key` in both languages, placeholders filled from `values`."""
        return cls(
            render(key, "nl", **values),
            render(key, "en", **values),
            key,
            tuple((name, str(value)) for name, value in sorted(values.items())),
        )


DOOR_MESSAGES: dict[Reason, DoorMessage] = {
    reason: DoorMessage.of(f"display.{reason.value}") for reason in Reason
}

PROMPT_PIN = DoorMessage.of("display.prompt_pin")
PROMPT_CARD = DoorMessage.of("display.prompt_card")
TIMED_OUT = DoorMessage.of("display.timeout")
DOOR_FREE = DoorMessage.of("display.door_free")
FAULT = DoorMessage.of("display.fault")
CHECKING = DoorMessage.of("display.checking")
HELP_REQUESTED = DoorMessage.of("display.help_requested")


def door_message(reason: Reason) -> DoorMessage:
    return DOOR_MESSAGES[reason]


def closing_message(minutes: int) -> DoorMessage:
    return DoorMessage.of("display.closing", minutes=minutes)
