"""One alert as the channels send it: a subject and text in Dutch and English, and a JSON body.

No card number or PIN is ever in an alert: events hold neither (only a card's last digits,
which an alert does not copy), and the member's patron id is not read here either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from controller.domain import catalog
from controller.domain.clock import to_local
from controller.store.alerts import AlertRow


@dataclass(frozen=True)
class AlertMessage:
    id: int
    kind: str
    door: str
    at: datetime
    reason: str | None
    detail: str | None
    repeats: int
    event_id: int | None

    @classmethod
    def of(cls, row: AlertRow) -> AlertMessage:
        return cls(
            id=row.id,
            kind=row.kind,
            door=row.door,
            at=row.at,
            reason=row.reason,
            detail=row.detail,
            repeats=row.repeats,
            event_id=row.event_id,
        )

    def what(self, lang: str) -> str:
        """The kind in words, e.g. 'Deur geforceerd' / 'Door forced'."""
        return catalog.render(f"alert.kind.{self.kind}", lang)

    def subject(self) -> str:
        return catalog.render("alert.subject", "nl", door=self.door, what=self.what("nl"))

    def text(self, lang: str) -> str:
        when = to_local(self.at).strftime("%Y-%m-%d %H:%M:%S")
        lines = [catalog.render("alert.body", lang, what=self.what(lang), door=self.door, time=when)]
        if self.reason:
            lines.append(catalog.render("alert.reason", lang, reason=self.reason))
        if self.detail:
            lines.append(catalog.render("alert.detail", lang, detail=self.detail))
        return "\n".join(lines)

    def body_text(self) -> str:
        """Dutch first, English below (as everything a person reads)."""
        return f"{self.text('nl')}\n\n{self.text('en')}\n"

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "door": self.door,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "detail": self.detail,
            "repeats": self.repeats,
            "event_id": self.event_id,
            "text_nl": self.text("nl"),
            "text_en": self.text("en"),
        }

    def json_body(self) -> bytes:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")
