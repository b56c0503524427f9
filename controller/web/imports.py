"""Member-list uploads between the preview and the confirm step, held in memory only.

Decision: the uploaded export may hold PINs, so it is never written to disk nor sent back to
the browser; it waits here (bound to the session that uploaded it) for at most a few minutes.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

PENDING_FOR = timedelta(minutes=15)
MAX_PENDING = 4  # per app: a Pi has little memory, and imports are rare


@dataclass(frozen=True)
class PendingImport:
    session_id: int
    data: bytes = field(repr=False)
    filename: str
    uploaded_at: datetime


class PendingImports:
    """Uploads awaiting confirmation, by a random id; thread-safe (pages run in a pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, PendingImport] = {}

    def put(self, pending: PendingImport) -> str:
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._drop_old(pending.uploaded_at)
            while len(self._items) >= MAX_PENDING:
                self._items.pop(next(iter(self._items)))
            self._items[key] = pending
        return key

    def take(self, key: str, session_id: int, now: datetime) -> PendingImport | None:
        """The upload for this session's confirm (removed), or None if gone or not theirs."""
        with self._lock:
            self._drop_old(now)
            pending = self._items.get(key)
            if pending is None or pending.session_id != session_id:
                return None
            return self._items.pop(key)

    def _drop_old(self, now: datetime) -> None:
        for key in [k for k, p in self._items.items() if now - p.uploaded_at > PENDING_FOR]:
            del self._items[key]
