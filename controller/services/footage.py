"""Camera footage as the controller sees it: when to record, the books, keep marks, retention, quota.

The door side calls only `set_mode` and `notify_event`; both put onto a queue without waiting,
so the recorder (drivers/camera_process.py) can never delay a door decision. Everything the
recorder reports is turned into footage rows and CAMERA_FAULT events by `pump`, on the
service's own thread.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from controller.config.settings import CameraSettings
from controller.domain.clock import Clock, local_date, utc_now
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.services.footage_plan import CLIP_EVENTS, capture_plan, recorder_config, wants_clip
from controller.services.footage_retention import Cleanup, FootageRetention, browser_path
from controller.store.codec import from_ms
from controller.store.db import transaction
from controller.store.events import EventLog
from controller.store.footage import FootageStore
from drivers.camera_messages import (
    CameraFault,
    ClipFinished,
    ClipRequest,
    RecorderConfig,
    RecorderMessage,
    RecorderStopped,
    SegmentFinished,
    SegmentStarted,
    to_ms,
)
from drivers.camera_mp4 import plays_in_browser
from drivers.camera_process import RecorderHandle

log = logging.getLogger(__name__)

RESTART_AFTER_SECONDS = 5.0  # a recorder that died is restarted no sooner than this


@dataclass(frozen=True)
class FootageLocation:
    """Where an event can be seen: its own clip, or the segment that covers it at an offset."""

    kind: Literal["clip", "segment"]
    path: Path
    start: datetime
    end: datetime
    offset_seconds: float  # where the event is, from the start of the file


class ClipNotFound(LookupError):
    """No clip exists for that event (none was recorded, or it has been deleted)."""


class FootageService:
    """The camera for the rest of the controller: door-side calls that never block, the
    recorder's reports turned into rows and events, clip look-up, keep marks, retention, quota."""

    def __init__(
        self,
        settings: CameraSettings,
        footage_dir: Path,
        connect: Callable[[], sqlite3.Connection],
        door: str,
        clock: Clock = utc_now,
        config: RecorderConfig | None = None,
        recorder_factory: Callable[[RecorderConfig], RecorderHandle] | None = None,
    ) -> None:
        """`config` overrides what settings give (tests inject sources); `recorder_factory`
        builds the (unstarted) recorder, by default a RecorderHandle per settings.in_process."""
        self._settings = settings
        self.footage_dir = Path(footage_dir)
        self._transcode_lock = threading.Lock()
        self._connect = connect
        self._door = door
        self._clock = clock
        self.retention = FootageRetention(settings, self.footage_dir, connect, clock)
        # A recorder process has its own copy of the clock: only the real one is shared there.
        self._config = config or recorder_config(
            settings, self.footage_dir, utc_now if settings.in_process else clock
        )
        self._recorder_factory = recorder_factory or (
            lambda cfg: RecorderHandle(
                cfg, in_process=settings.in_process, notice_queue_size=settings.notify_queue_size
            )
        )
        self._mode = DoorMode.CLOSED
        self._recorder: RecorderHandle | None = None
        self._restarted_at = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.notices_dropped = 0
        self.recorder_counts: dict[str, int] = {}
        self.fault: str | None = None  # the camera's fault since its last "recovered" (/metrics, health)
        self.frames_recorded = 0  # frames in the segments finished since start (/metrics)

    # --- life cycle ------------------------------------------------------------------------
    def start(self, pump_thread: bool = True) -> None:
        """Close the books a crash left open; with the camera enabled, start the recorder (and
        the pump thread if asked). Look-up, keep marks and retention work either way."""
        self.footage_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # for our user alone
        self._close_orphans()
        if not self._settings.enabled:
            return
        self._recorder = self._new_recorder()
        if pump_thread:
            self._thread = threading.Thread(target=self._pump_forever, name="footage-pump", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._recorder is not None:
            for message in self._recorder.stop():
                self.handle(message)
            self._recorder = None

    @property
    def recording(self) -> bool:
        """Whether this service runs the recorder (the door process's, with the camera on)."""
        return self._recorder is not None

    # --- the door side: never waits ---------------------------------------------------------
    def set_mode(self, mode: DoorMode) -> None:
        self._mode = mode
        if self._recorder is not None:
            self._recorder.send(capture_plan(mode, self._settings))

    def notify_event(self, event_id: int, at: datetime, kind: EventType) -> bool:
        """Ask for a clip of this event if policy wants one; a full queue drops it (counted)."""
        if self._recorder is None or not wants_clip(self._mode, kind, self._settings):
            return False
        if self._recorder.notify(ClipRequest(event_id, to_ms(at), kind.value)):
            return True
        self.notices_dropped += 1
        return False

    # --- the recorder's reports ------------------------------------------------------------
    def pump(self, timeout: float = 0.5) -> int:
        """Handle what the recorder has reported (waiting up to `timeout` for the first)."""
        if self._recorder is None:
            return 0
        handled = 0
        while True:
            try:
                message = self._recorder.output.get(timeout=timeout if handled == 0 else 0)
            except queue.Empty:
                break
            except (OSError, EOFError, ValueError):  # the pipe of a recorder process that died
                break
            self.handle(message)
            handled += 1
        if handled == 0 and not self._recorder.is_alive():
            self._restart_dead_recorder(self._recorder)
        return handled

    def handle(self, message: RecorderMessage) -> None:
        with closing(self._connect()) as conn:
            store = FootageStore(conn)
            if isinstance(message, SegmentStarted):
                store.segment_started(message.path, message.start_ms)
            elif isinstance(message, SegmentFinished):
                store.segment_finished(
                    message.path, message.start_ms, message.end_ms, message.frames, message.bytes
                )
                self.frames_recorded += message.frames
            elif isinstance(message, ClipFinished):
                store.add_clip(
                    message.event_id,
                    message.path,
                    message.start_ms,
                    message.end_ms,
                    message.frames,
                    message.bytes,
                )
            elif isinstance(message, CameraFault):
                self.fault = None if message.kind == "recovered" else message.kind
                EventLog(conn).record(
                    Event(
                        type=EventType.CAMERA_FAULT,
                        at=from_ms(message.at_ms),
                        door=self._door,
                        reason=message.kind,
                        detail=message.detail,
                    )
                )
            elif isinstance(message, RecorderStopped):
                self.recorder_counts = dict(message.counts)
        if isinstance(message, (SegmentFinished, ClipFinished)):
            self.enforce_quota()

    # --- what the API reads and marks ---------------------------------------------------
    def clip_for_event(self, event_id: int) -> FootageLocation | None:
        """The event's own clip, else the finished segment covering its time, else None."""
        with closing(self._connect()) as conn:
            store = FootageStore(conn)
            at_ms = store.event_time_ms(event_id)
            clip = store.clip(event_id)
            if clip is not None:
                offset = (at_ms - clip.start_ms) / 1000 if at_ms is not None else 0.0
                return FootageLocation(
                    "clip",
                    self.footage_dir / clip.path,
                    from_ms(clip.start_ms),
                    from_ms(clip.end_ms),
                    max(0.0, offset),
                )
            segment = store.segment_covering(at_ms) if at_ms is not None else None
        if segment is None or segment.end_ms is None or at_ms is None:
            return None
        return FootageLocation(
            "segment",
            self.footage_dir / segment.path,
            from_ms(segment.start_ms),
            from_ms(segment.end_ms),
            (at_ms - segment.start_ms) / 1000,
        )

    def events_with_footage(self, event_ids: list[int]) -> set[int]:
        """Which of these events clip_for_event would find footage for: one connection and one
        query for a page of events (the entries page), not one of each per row."""
        with closing(self._connect()) as conn:
            return FootageStore(conn).events_with_footage(event_ids)

    def mark_keep(self, event_id: int, until: date, actor: str, note: str = "") -> None:
        """Keep an event's clip past retention and quota up to and including `until`."""
        if until < local_date(self._clock()):
            raise ValueError(f"keep-until date {until} is in the past")
        self._set_keep(
            event_id,
            until,
            note,
            actor,
            "footage kept",
            f"event={event_id} until={until.isoformat()} note={note[:200]}",
        )

    def unmark_keep(self, event_id: int, actor: str) -> None:
        self._set_keep(event_id, None, None, actor, "footage keep removed", f"event={event_id}")

    def _set_keep(
        self, event_id: int, until: date | None, note: str | None, actor: str, what: str, detail: str
    ) -> None:
        """Set or clear the mark and audit it as an ADMIN_CHANGE naming the actor."""
        with closing(self._connect()) as conn, transaction(conn):  # the mark and its audit
            if not FootageStore(conn).set_keep(event_id, until, actor if until else None, note):
                raise ClipNotFound(f"no clip for event {event_id}")
            EventLog(conn).record(
                Event(
                    type=EventType.ADMIN_CHANGE,
                    at=self._clock(),
                    door=self._door,
                    reason=what,
                    actor=actor,
                    detail=detail,
                )
            )

    def browser_copy(self, video: Path) -> Path:
        """A WebM copy of a recorded file that a browser's <video> can play, made on first ask.

        Kept beside the footage (`browser/<same path>.webm`) and deleted with its original.
        H.264 in MP4 (stream copy, drivers/camera_copy.py) plays as it is: no copy.
        """
        if video.suffix == ".webm" or plays_in_browser(video):
            return video
        copy = browser_path(self.footage_dir, video.relative_to(self.footage_dir).as_posix())
        # OpenCV is loaded on the first transcode (in the web process, which serves the video),
        # never at import: the door process imports this module too and never handles frames.
        from drivers.camera_files import transcode_for_browser

        with self._transcode_lock:  # two viewers of one clip encode it once
            if not copy.is_file() or copy.stat().st_mtime < video.stat().st_mtime:
                transcode_for_browser(video, copy)
        return copy

    # --- deleting (controller/services/footage_retention.py) --------------------------------
    def apply_retention(self, now: datetime) -> Cleanup:
        """The daily job: footage older than retention_days goes, except clips still kept."""
        return self.retention.apply_retention(now)

    def delete_clips(self, event_ids: list[int], today: date) -> int:
        """A member's erasure: these events' clips but those kept on `today`; how many went."""
        return self.retention.delete_clips(event_ids, today)

    def enforce_quota(self) -> Cleanup:
        """Over max_gb: oldest segments go first, then the oldest clips not kept; kept ones never."""
        return self.retention.enforce_quota()

    # --- internals -----------------------------------------------------------------------
    def _new_recorder(self) -> RecorderHandle:
        recorder = self._recorder_factory(self._config)
        recorder.start()
        recorder.send(capture_plan(self._mode, self._settings))
        return recorder

    def _pump_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self.pump(timeout=0.5)
            except Exception:
                log.exception("footage bookkeeping failed")
                self._stopping.wait(1.0)

    def _restart_dead_recorder(self, dead: RecorderHandle) -> None:
        if self._stopping.is_set() or time.monotonic() - self._restarted_at < RESTART_AFTER_SECONDS:
            return
        self._restarted_at = time.monotonic()
        self.handle(CameraFault("recorder_died", "restarting the recorder", to_ms(self._clock())))
        for message in dead.stop(timeout=1.0):  # frees its pipe and queues
            self.handle(message)
        self._recorder = self._new_recorder()

    def _close_orphans(self) -> None:
        """A segment row left open by a crash ends at its file's last write (or goes, with no file)."""
        with closing(self._connect()) as conn:
            store = FootageStore(conn)
            for row in store.unfinished_segments():
                path = self.footage_dir / row.path
                if not path.exists():
                    store.delete_segment(row.id)
                    continue
                info = path.stat()
                store.segment_finished(
                    row.path,
                    row.start_ms,
                    max(row.start_ms, int(info.st_mtime * 1000)),
                    row.frames,
                    info.st_size,
                )


class CameraEventLog(EventLog):
    """An EventLog that also asks the camera for a clip of every entry or alarm it records.

    Hand it to the Authorizer and the Door instead of a plain EventLog; the extra work is
    one non-blocking queue put.
    """

    def __init__(self, conn: sqlite3.Connection, footage: FootageService) -> None:
        super().__init__(conn)
        self._footage = footage

    def record(self, event: Event) -> int:
        event_id = super().record(event)
        if event.type in CLIP_EVENTS:
            self._footage.notify_event(event_id, event.at, event.type)
        return event_id
