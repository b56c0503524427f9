"""A member's rights under the AVG/GDPR, and the event log forgetting who came in.

- export: everything this controller holds on one member, as JSON (articles 15 and 20): the
  list entry in full with their cards, wrong-PIN counts, every event naming them, staff's audit
  lines about them and the footage clips of their events. Never the PIN's hash or salt: with
  pin.key they allow guessing the PIN offline, so they are the controller's secret.
- erase (article 17): the member leaves the list; their events stay for the statistics but name
  a keyed pseudonym instead of the patron id (the card hint, a few last digits, stays); their
  clips are deleted unless kept for an incident (a keep mark, controller/services/footage.py).
- pseudonymise_old_events: the daily job that does the same to every event older than
  [privacy] member_ref_days, so the log stops naming people after a month.

The pseudonym is an HMAC of the patron id under a key derived from pin.key: the same person
gets the same pseudonym (visits per visitor can still be counted), and without the key it
cannot be turned back into a patron id. It is a pseudonym, not anonymity: whoever holds
pin.key and a patron id can recompute it, which docs/privacy.md says.
"""

from __future__ import annotations

import hmac
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from controller.domain.clock import Clock, local_date, utc_now
from controller.domain.events import Event, EventType
from controller.domain.pins import PinHasher
from controller.services.pin_cache import card_digest_key
from controller.services.runtime import Runtime
from controller.store.codec import day_from_text_or_none, from_ms, to_ms
from controller.store.db import transaction
from controller.store.privacy import (
    audit_lines_about,
    clips_of,
    events_of,
    forget_lms_cards,
    is_member_audit,
    member_record,
    pseudonymise_before,
    replace_in_audit_lines,
    replace_member_ref,
)

if TYPE_CHECKING:  # built by the caller: it loads OpenCV
    from controller.services.footage import FootageService

PSEUDONYM_PREFIX = "pseudo:"
PSEUDONYM_KEY_LABEL = b"openplus-door member pseudonym key v1"
PSEUDONYMISE_BATCH = 2000  # rows per transaction: the door's event writer waits at most this long
MASK = "***"


class UnknownMember(LookupError):
    """No member with that patron id is on this controller's list."""


def pseudonym_key(hasher: PinHasher) -> bytes:
    """HMAC(pin key, label): one key, one purpose (as pin_cache.card_digest_key does)."""
    return hasher._digest(PSEUDONYM_KEY_LABEL, "")


def pseudonym_of(key: bytes, patron_id: str) -> str:
    """`pseudo:` + 16 hex digits; a pseudonym given again is returned as it is."""
    if patron_id.startswith(PSEUDONYM_PREFIX):
        return patron_id
    return PSEUDONYM_PREFIX + hmac.digest(key, patron_id.encode("utf-8"), "sha256").hex()[:16]


def masked_ref(member_ref: str | None) -> str | None:
    """What a viewer without the manager role sees of a patron id: the last two characters
    (enough to tell two visitors apart on one evening, not to look anyone up). A pseudonym is
    shown whole: it names nobody."""
    if member_ref is None or member_ref.startswith(PSEUDONYM_PREFIX):
        return member_ref
    return MASK + member_ref[-2:] if len(member_ref) > 4 else MASK


def masked_event(event: Event) -> Event:
    """The event as a viewer without the manager role sees it: the patron id masked, in
    member_ref and as the first word of a member change's audit line."""
    detail = event.detail
    if event.type is EventType.ADMIN_CHANGE and detail and is_member_audit(event.reason):
        first, _, rest = detail.partition(" ")
        detail = " ".join(filter(None, (masked_ref(first), rest)))
    return replace(event, member_ref=masked_ref(event.member_ref), detail=detail)


# --- export ---------------------------------------------------------------------------------
def export_member(runtime: Runtime, patron_id: str, actor: str) -> dict[str, Any]:
    """Everything held on the member, JSON-ready (times in ISO 8601 UTC); audited, since it
    hands a person's data out ("member data exported", by whom)."""
    with closing(runtime.connection()) as conn:
        record = member_record(conn, patron_id)
        if record is None:
            raise UnknownMember(f"patron {patron_id} is not on this controller's list")
        events = events_of(conn, patron_id)
        audit = audit_lines_about(conn, patron_id)
        clips = clips_of(conn, [e.id for e in events if e.id is not None])
        runtime.events(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=runtime.clock(),
                door=runtime.settings.branch.door,
                reason="member data exported",
                actor=actor,
                detail=patron_id,
            )
        )
    settings = runtime.settings
    return {
        "exported_at": runtime.clock().isoformat(),
        "controller": {"branch": settings.branch.name, "door": settings.branch.door},
        "retention": {
            "events_days": settings.events.retention_days,
            "patron_id_in_events_days": settings.privacy.member_ref_days,
            "footage_days": settings.camera.retention_days,
        },
        **_json_ready(record),
        "events": [_event_json(e) for e in events],
        "staff_changes": [_event_json(e) for e in audit],
        "footage": [
            {
                "event_id": c["event_id"],
                "file": c["path"],
                "start": from_ms(c["start_ms"]).isoformat(),
                "end": from_ms(c["end_ms"]).isoformat(),
                "kept_for_incident_until": c["keep_until"],
            }
            for c in clips
        ],
        "not_included": "the PIN (only a keyed hash of it is stored, never shown); footage "
        "outside these clips (continuous recording, deleted after "
        f"{settings.camera.retention_days} days) is not indexed by person",
    }


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "type": event.type.value,
        "door": event.door,
        "reason": event.reason,
        "card_hint": event.card_hint,
        "actor": event.actor,
        "detail": event.detail,
    }


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


# --- erase ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Erased:
    pseudonym: str
    events: int  # events now naming the pseudonym
    audit_lines: int
    clips_deleted: int
    clips_kept: int  # kept for an incident: deleted when their keep mark ends, by retention


def erase_member(runtime: Runtime, patron_id: str, actor: str, footage: FootageService | None) -> Erased:
    """Remove the member, pseudonymise their events and audit lines, forget the library
    system's cached PINs of their cards (one transaction, audited under the pseudonym), then
    delete their clips not kept for an incident (with `footage`: files and rows)."""
    key = pseudonym_key(runtime.hasher)
    pseudonym = pseudonym_of(key, patron_id)
    card_key = card_digest_key(runtime.hasher)
    with closing(runtime.connection()) as conn:
        with transaction(conn):
            record = member_record(conn, patron_id)
            if record is None:
                raise UnknownMember(f"patron {patron_id} is not on this controller's list")
            event_ids = [e.id for e in events_of(conn, patron_id) if e.id is not None]
            events = replace_member_ref(conn, patron_id, pseudonym)
            audit = replace_in_audit_lines(conn, patron_id, pseudonym)
            runtime.members(conn).remove(patron_id)  # its cards and PIN counts go with it
            forget_lms_cards(
                conn, [hmac.digest(card_key, card.encode("utf-8"), "sha256") for card in record["cards"]]
            )
        clips = clips_of(conn, event_ids)
    today = local_date(runtime.clock())
    kept = [
        c["event_id"]
        for c in clips
        if (until := day_from_text_or_none(c["keep_until"])) is not None and until >= today
    ]
    doomed = [c["event_id"] for c in clips if c["event_id"] not in kept]
    deleted = footage.delete_clips(doomed, today) if footage is not None and doomed else 0
    with closing(runtime.connection()) as conn:
        runtime.events(conn).record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=runtime.clock(),
                door=runtime.settings.branch.door,
                reason="member erased",
                actor=actor,
                detail=f"{pseudonym} events={events} audit_lines={audit} clips_deleted={deleted} "
                f"clips_kept={len(kept)}",
            )
        )
    return Erased(pseudonym, events, audit, deleted, len(kept))


# --- the daily job --------------------------------------------------------------------------
def pseudonymise_old_events(
    runtime: Runtime, days: int, clock: Clock = utc_now, batch: int = PSEUDONYMISE_BATCH
) -> int:
    """Events older than `days` name a pseudonym instead of the patron id (in batches, each
    its own transaction); how many rows changed."""
    key = pseudonym_key(runtime.hasher)
    cutoff_ms = to_ms(clock() - timedelta(days=days))
    total = 0
    with closing(runtime.connection()) as conn:
        while True:
            with transaction(conn):
                changed = pseudonymise_before(
                    conn, cutoff_ms, lambda ref: pseudonym_of(key, ref), PSEUDONYM_PREFIX, batch
                )
            total += changed
            if changed == 0:
                return total
