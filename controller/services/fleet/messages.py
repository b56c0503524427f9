"""What a branch says on the broker, as JSON: topics, events (pseudonymised), state, heartbeat.

Topics, under `<prefix>/<branch>/`:
- `events`: one message per event, QoS 1, from the outbox; `id` is `<branch>/<event id>`, the
  same every time the message is sent again, so a receiver drops what it already has.
- `state`: retained; `online` with mode, door, alarms, version, last LMS contact and occupancy,
  or `offline` (the last will, and a clean stop).
- `heartbeat`: QoS 0, every [fleet] heartbeat_seconds: the time, the outbox's length and
  `acked_seq`, the seq up to which the broker acknowledged every message.

Every message from the outbox (events, acks) carries `seq`, this branch's own counter, one up
per message (store/fleet_outbox.py): the console keeps which seqs it has and asks for a gap
again with a `resend` command (a message the broker acknowledged and then lost in a crash).

An event leaves without the patron id: only the card hint (a few last digits) and a keyed
pseudonym of the patron id (services/privacy.pseudonym_of: the same member gets the same
pseudonym, so the console can count visitors, and nobody without pin.key can turn it back).
A member change's audit line names the patron as its first word: that word is pseudonymised too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from controller.domain.events import EventType
from controller.services.privacy import pseudonym_of
from controller.store.fleet_outbox import SourceEvent
from controller.store.privacy import is_member_audit

FORMAT = 1  # the messages' format version, in every payload ("v")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Topics:
    prefix: str
    branch: str

    def _of(self, leaf: str) -> str:
        return f"{self.prefix}/{self.branch}/{leaf}"

    @property
    def events(self) -> str:
        return self._of("events")

    @property
    def state(self) -> str:
        return self._of("state")

    @property
    def heartbeat(self) -> str:
        return self._of("heartbeat")

    @property
    def commands(self) -> str:
        """The console's signed commands to this branch (services/fleet/commands.py)."""
        return self._of("commands")

    @property
    def acks(self) -> str:
        """This branch's answer to each command: applied or refused."""
        return self._of("acks")


def event_message(branch: str, event: SourceEvent, key: bytes) -> dict[str, Any]:
    """The event as the fleet sees it: no patron id, no full card number (there is none)."""
    detail = event.detail
    if event.type == EventType.ADMIN_CHANGE.value and detail and is_member_audit(event.reason):
        first, _, rest = detail.partition(" ")
        detail = " ".join(filter(None, (pseudonym_of(key, first), rest)))
    return {
        "v": FORMAT,
        "id": f"{branch}/{event.id}",
        "branch": branch,
        "event_id": event.id,
        "at": iso(event.at),
        "type": event.type,
        "door": event.door,
        "reason": event.reason,
        "member": pseudonym_of(key, event.member_ref) if event.member_ref else None,
        "card_hint": event.card_hint,
        "detail": detail,
    }


class DoorState(Protocol):
    """What the state message reads of the door's snapshot (controller.door.ports.DoorSnapshot
    has these; the door layer is above this one, so it is described, not imported)."""

    @property
    def mode(self) -> object: ...
    @property
    def door_open(self) -> bool: ...
    @property
    def relay_unlocked(self) -> bool: ...
    @property
    def alarm(self) -> object | None: ...
    @property
    def occupancy(self) -> int | None: ...


def _text(value: object | None) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def state_message(
    branch: str, snapshot: DoorState | None, version: str, lms_contact: datetime | None
) -> dict[str, Any]:
    """The retained `online` state; the door's fields are null until the door reported."""
    message: dict[str, Any] = {
        "v": FORMAT,
        "branch": branch,
        "state": "online",
        "version": version,
        "last_lms_contact": iso(lms_contact),
        "mode": None,
        "door": None,
        "alarms": [],
    }
    if snapshot is not None:
        message["mode"] = _text(snapshot.mode)
        message["door"] = (
            "open" if snapshot.door_open else "unlocked" if snapshot.relay_unlocked else "closed"
        )
        alarm = _text(snapshot.alarm)
        message["alarms"] = [alarm] if alarm else []
        if snapshot.occupancy is not None:
            message["occupancy"] = snapshot.occupancy
    return message


def offline_message(branch: str) -> dict[str, Any]:
    """The last will and the clean stop's state: the broker keeps it (retained)."""
    return {"v": FORMAT, "branch": branch, "state": "offline"}


def heartbeat_message(
    branch: str, at: datetime, waiting: int, acked_seq: int | None = None
) -> dict[str, Any]:
    """`acked_seq` (absent when None: a branch from before seqs) lets the console see a gap at
    the end too: messages acknowledged by the broker that never reached it, with none after."""
    message: dict[str, Any] = {"v": FORMAT, "branch": branch, "at": iso(at), "outbox": waiting}
    if acked_seq is not None:
        message["acked_seq"] = acked_seq
    return message
