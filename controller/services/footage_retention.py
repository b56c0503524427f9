"""Deleting footage: the daily retention job, the disk quota and a member's erasure.

FootageService (controller/services/footage.py) owns one of these and delegates to it; kept
clips (keep marks) are never deleted here. A browser copy (`browser/<path>.webm`) goes with
its original.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from controller.config.settings import CameraSettings
from controller.domain.clock import Clock, local_date
from controller.store.footage import ClipRow, FootageStore, SegmentRow
from drivers.camera_messages import to_ms

log = logging.getLogger(__name__)

BROWSER_DIR = "browser"  # WebM copies for viewing, made on demand


@dataclass(frozen=True)
class Cleanup:
    segments: int = 0
    clips: int = 0
    bytes: int = 0

    def __add__(self, other: Cleanup) -> Cleanup:
        return Cleanup(self.segments + other.segments, self.clips + other.clips, self.bytes + other.bytes)


def browser_path(footage_dir: Path, relative: str) -> Path:
    """Where the browser copy of the recorded file `relative` is kept."""
    return footage_dir / BROWSER_DIR / f"{relative}.webm"


class FootageRetention:
    """Retention, quota and erasure over the footage books and files of one footage_dir."""

    def __init__(
        self,
        settings: CameraSettings,
        footage_dir: Path,
        connect: Callable[[], sqlite3.Connection],
        clock: Clock,
    ) -> None:
        self._settings = settings
        self.footage_dir = footage_dir
        self._connect = connect
        self._clock = clock

    def apply_retention(self, now: datetime) -> Cleanup:
        """The daily job: footage older than retention_days goes, except clips still kept."""
        cutoff_ms = to_ms(now - timedelta(days=self._settings.retention_days))
        today = local_date(now)
        done = Cleanup()
        with closing(self._connect()) as conn:
            store = FootageStore(conn)
            while segments := store.finished_segments(ended_before_ms=cutoff_ms):
                done += self._delete_segments(store, segments)
            while clips := store.unkept_clips(today, ended_before_ms=cutoff_ms):
                done += self._delete_clips(store, clips)
        return done + self.enforce_quota()

    def delete_clips(self, event_ids: list[int], today: date) -> int:
        """Delete these events' clips (files and rows) except those kept on `today`: a
        member's erasure (controller/services/privacy.py); how many went."""
        with closing(self._connect()) as conn:
            store = FootageStore(conn)
            rows = [c for c in map(store.clip, event_ids) if c is not None and not c.kept_on(today)]
            return self._delete_clips(store, rows).clips

    def enforce_quota(self) -> Cleanup:
        """Over max_gb: oldest segments go first, then the oldest clips not kept; kept ones never."""
        limit = int(self._settings.max_gb * 1e9)
        today = local_date(self._clock())
        done = Cleanup()
        with closing(self._connect()) as conn:
            store = FootageStore(conn)
            while (excess := store.total_bytes() - limit) > 0 and (segments := store.finished_segments()):
                done += self._delete_segments(store, _enough(segments, excess))
            while (excess := store.total_bytes() - limit) > 0 and (clips := store.unkept_clips(today)):
                done += self._delete_clips(store, _enough(clips, excess))
            if store.total_bytes() > limit:
                log.warning("footage over quota and nothing more may be deleted (kept clips)")
        return done

    def _delete_segments(self, store: FootageStore, rows: list[SegmentRow]) -> Cleanup:
        for row in rows:
            self.remove_file(row.path)
            store.delete_segment(row.id)
        return Cleanup(segments=len(rows), bytes=sum(r.bytes for r in rows))

    def _delete_clips(self, store: FootageStore, rows: list[ClipRow]) -> Cleanup:
        for row in rows:
            self.remove_file(row.path)
            store.delete_clip(row.event_id)
        return Cleanup(clips=len(rows), bytes=sum(r.bytes for r in rows))

    def remove_file(self, relative: str) -> None:
        for path in (self.footage_dir / relative, browser_path(self.footage_dir, relative)):
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # an emptied day directory
            except OSError:
                pass


Row = TypeVar("Row", SegmentRow, ClipRow)


def _enough(rows: list[Row], excess: int) -> list[Row]:
    """The oldest rows whose sizes add up to at least `excess` (all of them if they don't)."""
    taken, total = [], 0
    for row in rows:
        if total >= excess:
            break
        taken.append(row)
        total += row.bytes
    return taken
