"""Write-behind for the door: events and PIN-failure counts reach SQLite from a thread of their own.

Why: the door must never wait on the database. A member import, a backup or a page holding a
write lock made the exit button and grants wait up to the busy timeout (10 s) in the old design,
where the door wrote each event before it moved the relay. Now the door thread only puts the
write on a bounded queue and returns; this writer retries on `database is locked` (and any other
operational error, e.g. a full disk) until the write lands, and never drops a committed
decision: when the queue is full, or at shutdown with writes still waiting, they are appended
to a spill file (JSON lines) that is written back into the database.

The door thread never touches the disk either, not even when the queue is full (a database
locked or a disk failing for a long time while the door is busy): it appends the write to an
in-memory overflow (a deque under a lock held for an append) and returns. This thread moves
the overflow to the spill file (append + fsync) at every turn, between retries too, so a write
is in memory alone for at most about one retry pause (1 s); `stop()` spills what is left.
The spill file is written back at start, and also as soon as this thread has caught up (its
queue empty after a write): a lock that ended gets its events into the log, the pages, the
alerts and the fleet within a turn or so, not at the next restart. A long episode logs one
warning when spilling starts and one line when the file is written back, not a line per item.

Order: one total order, the order handed in. A PIN-failure count is an upsert, so an older
count written back after a newer one would make a member's count or lockout go backwards.
Each write is numbered when handed in and keeps its number in the file, which is written back
(and read by `spilled_pin_failures()`: the counts still waiting there, for the door at start)
in that order, whichever path spilled what first. And once an episode of spilling begins (the
queue was full, a batch was refused, or a spill file is there at start) every write goes to
the overflow, and so through the file behind the older ones, until this thread has written
the file back and found nothing more to spill; only then does the queue take writes again
(the hand-over is under the overflow lock, so none slips between). What the queue held when
it filled is older and is committed before the file; after a refused batch it follows it.

A file that cannot be read or written back for a reason other than a lock is set aside (renamed
beside it, never deleted), logged, and recorded as a SERVICE event once the database takes a
write; kept in place, it was retried at every start, held up the files behind it, and its
stale counts were loaded as newer than the database's.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from controller.domain.clock import Clock, utc_now
from controller.domain.events import Event, EventType
from controller.door import spill_file
from controller.door.spill_file import Numbered, Write
from controller.store.codec import from_ms_or_none, to_ms_or_none
from controller.store.db import Database, transaction
from controller.store.events import EventLog
from controller.store.pin_failures import PinFailures, save_pin_failures

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
BATCH = 200
FIRST_RETRY_SECONDS = 0.05
MAX_RETRY_SECONDS = 1.0
SPILL_FILE = "events-spill.jsonl"
WRITE_BACK_ROUNDS = 3  # write-backs in a row while the door keeps spilling; then the next turn
SPILL_SET_ASIDE = "spill_set_aside"  # `service` event reason: a spill file that could not be written back


class EventWriter:
    """`record(event)` and `save(pin_failures)` return at once; a thread writes them in order.

    on_event_written(event_id, event) runs on the writer thread after each event is committed
    (the camera asks for a clip then); it must be quick and its failures are only logged.
    """

    def __init__(
        self,
        db: Database,
        spill_path: Path,
        *,
        queue_size: int = QUEUE_SIZE,
        busy_timeout: float = 0.5,
        on_event_written: Callable[[int, Event], None] | None = None,
        door: str = "",
        clock: Clock = utc_now,
    ) -> None:
        """`door` and `clock`: the door's name and time for the SERVICE event of a set-aside file."""
        self._db = db
        self._door, self._clock = door, clock
        self._spill_path = Path(spill_path)
        self._busy_timeout = busy_timeout
        self._on_written = on_event_written
        self._queue: queue.Queue[Numbered | None] = queue.Queue(maxsize=queue_size)
        self._spill_lock = threading.Lock()
        self._overflow: deque[Numbered] = deque()  # the queue was full: the thread spills these
        self._overflow_lock = threading.Lock()
        self._replay_path = self._spill_path.with_suffix(".replay")
        # Under _overflow_lock: writes go to the overflow (so through the file) until written back.
        self._episode = self._spill_path.exists() or self._replay_path.exists()
        # Under _overflow_lock: the last number handed out; on after the last run's, whose
        # writes may still be in the file this run appends to (read here, not on the door thread).
        self._seq = spill_file.last_seq(self._replay_path, self._spill_path) if self._episode else 0
        self._spilling = False  # an episode's warning is logged; cleared once written back
        self._write_back_failed = False  # a file could not even be set aside: left for the next start
        self._set_aside: list[Numbered] = []  # SERVICE events of set-aside files, not yet written
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._in_flight = 0
        self.retries = 0  # writes that met a locked or failing database and were tried again
        self.spilled = 0  # writes that went to the spill file instead of the database

    # --- the door's side: never blocks ---------------------------------------------------------
    def record(self, event: Event) -> None:
        self._put(event)

    def save(self, failures: PinFailures) -> None:
        self._put(failures)

    def _put(self, item: Write) -> None:
        with self._idle:
            self._in_flight += 1
        with self._overflow_lock:  # no disk here: the writer thread spills the overflow
            self._seq += 1
            numbered = (self._seq, item)
            if not self._episode:
                try:
                    self._queue.put_nowait(numbered)
                    return
                except queue.Full:
                    self._episode = True  # from now on behind this one, through the file
            self._overflow.append(numbered)

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Write what is waiting for up to `timeout` s, then spill the rest to the file."""
        self.flush(timeout)
        self._stopping.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
        left = self._take_all() + self._take_overflow()
        if left:
            log.warning("stopping with %d event write(s) not in the database yet", len(left))
            self._spill(left)
            self._done(len(left))
        if self._set_aside:  # not handed in (not counted in flush): written back next start
            self._spill(self._set_aside)
            self._set_aside = []

    def flush(self, timeout: float) -> bool:
        """True once every write handed in so far is committed (or spilled to the file)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    @property
    def waiting(self) -> int:
        return self._in_flight

    # --- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        conn = self._connect()
        try:
            self._write_back(conn)
            while not self._stopping.is_set():
                self._spill_overflow()
                try:
                    first = self._queue.get(timeout=0.5)
                except queue.Empty:
                    self._write_back(conn)
                    continue
                if first is None:
                    break
                batch = [first] + self._take_all(BATCH - 1)
                if self._write_until_done(conn, batch) and self._queue.empty():
                    self._write_back(conn)  # caught up: the lock has ended
        finally:
            conn.close()

    def _write_back(self, conn: sqlite3.Connection) -> None:
        """Write the spill file back: at start, and whenever the queue is empty, not at the next
        restart only; then end the episode if nothing more came meanwhile (a few rounds, the
        rest at the next turn). A file that cannot be read or written back (not a lock: that is
        retried) is set aside, so it neither loops nor kills this thread, and the files after
        it are written back as usual."""
        for _ in range(WRITE_BACK_ROUNDS):
            self._spill_overflow()  # what overflowed up to now goes back in this round too
            if self._write_back_failed or not self._has_spill_file():
                if self._end_episode():
                    break
                continue
            try:
                if not self._replay_spill(conn):
                    return  # stopping: the file stays for the next start
            except Exception as exc:  # noqa: BLE001 - any reason but a lock: logged there
                self._set_aside_file(exc)
        self._write_set_aside_events(conn)

    def _set_aside_file(self, exc: Exception) -> None:
        """Rename the file that failed beside it, for a person to read; its events are not lost,
        but no start writes it back or loads its counts over the database's (never reached it)."""
        path = self._replay_path if self._replay_path.exists() else self._spill_path
        with self._spill_lock:
            try:
                aside = spill_file.set_aside_path(self._spill_path, self._clock())
                os.rename(path, aside)
            except OSError:
                self._write_back_failed = True  # or it would be tried again at every turn
                log.exception("could not write back %s (%s), nor set it aside; kept", path, exc)
                return
            self._spilling = False  # a new episode warns again
        why = f"{type(exc).__name__}: {exc}"
        log.error("could not write back %s (%s); set aside as %s", path, why, aside, exc_info=exc)
        event = Event(
            EventType.SERVICE, self._clock(), self._door, SPILL_SET_ASIDE, detail=f"{aside.name}: {why}"
        )
        with self._overflow_lock:
            self._seq += 1
            self._set_aside.append((self._seq, event))

    def _write_set_aside_events(self, conn: sqlite3.Connection) -> None:
        """Record the set-aside files once the database takes writes. Not through the queue: a
        database refusing every write would set aside the file holding the event again, and so on."""
        if not self._set_aside:
            return
        try:
            written = self._write(conn, [item for _, item in self._set_aside])
        except Exception:  # noqa: BLE001 - the file's error is logged; tried again next turn
            return
        self._set_aside = []
        self._notify(written)

    def _has_spill_file(self) -> bool:
        return self._spill_path.exists() or self._replay_path.exists()

    def _end_episode(self) -> bool:
        """The queue takes writes again unless the door overflowed meanwhile. Only this thread
        writes the file while it runs, so no file can appear between the caller's look and
        the lock; a write handed in meanwhile is in the overflow, seen under the lock."""
        with self._overflow_lock:
            if self._overflow:
                return False
            self._episode = False
            return True

    def _take_overflow(self) -> list[Numbered]:
        with self._overflow_lock:
            items = list(self._overflow)
            self._overflow.clear()
        return items

    def _spill_overflow(self) -> None:
        """Move what the door could not queue to the spill file (this thread's disk, not the door's)."""
        items = self._take_overflow()
        if items:
            self._spill(items)
            self._done(len(items))

    def _take_all(self, limit: int | None = None) -> list[Numbered]:
        items: list[Numbered] = []
        while limit is None or len(items) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                items.append(item)
        return items

    def _connect(self) -> sqlite3.Connection:
        return self._db.connect(busy_timeout=self._busy_timeout)

    def _write_until_done(self, conn: sqlite3.Connection, batch: list[Numbered]) -> bool:
        """True once the batch is committed; False if it went to the spill file instead."""
        pause = FIRST_RETRY_SECONDS
        while True:
            try:
                written = self._write(conn, [item for _, item in batch])
            except sqlite3.OperationalError as exc:  # locked, busy, disk full, I/O
                self.retries += 1
                if self.retries == 1 or self.retries % 100 == 0:
                    log.warning("event write failed (%s); retrying, %d retries so far", exc, self.retries)
                if self._stopping.wait(pause):
                    self._spill(batch)  # shutting down: keep them for the next start
                    self._done(len(batch))
                    return False
                self._spill_overflow()  # the door may be filling the queue meanwhile
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                continue
            except Exception:
                log.exception("event write refused; kept in %s", self._spill_path)
                with self._overflow_lock:
                    self._episode = True  # the writes after it follow it through the file
                behind = self._take_all()  # handed in after it: no newer count may land first
                self._spill(batch + behind)
                self._done(len(batch) + len(behind))
                return False
            self._done(len(batch))
            self._notify(written)
            return True

    def _write(self, conn: sqlite3.Connection, batch: list[Write]) -> list[tuple[int, Event]]:
        events = EventLog(conn)
        written = []
        with transaction(conn):
            for item in batch:
                if isinstance(item, Event):
                    written.append((events.record(item), item))
                else:
                    save_pin_failures(conn, item)
        return written

    def _notify(self, written: list[tuple[int, Event]]) -> None:
        if self._on_written is None:
            return
        for event_id, event in written:
            try:
                self._on_written(event_id, event)
            except Exception:
                log.exception("after-write hook failed for event %d", event_id)

    def _done(self, count: int) -> None:
        with self._idle:
            self._in_flight -= count
            if self._in_flight <= 0:
                self._idle.notify_all()

    # --- the spill file ----------------------------------------------------------------------------
    def _spill(self, items: list[Numbered]) -> None:
        with self._spill_lock:
            try:
                spill_file.append(self._spill_path, items)
            except OSError:
                log.exception(
                    "could not spill %d event write(s) to %s; they are lost", len(items), self._spill_path
                )
                return
            self.spilled += len(items)
            first_of_episode, self._spilling = not self._spilling, True
        if first_of_episode:  # once per episode: a long lock spills at every turn
            log.warning(
                "event writes kept in %s until the database takes them (%d so far)",
                self._spill_path,
                self.spilled,
            )

    def spilled_pin_failures(self) -> dict[int, PinFailures]:
        """The PIN-failure counts waiting in the spill files, the newest per member: the door
        loads them over the database's at start, before start() (this thread writes them back
        later; the door must not forget a run of wrong PINs or lockouts meanwhile). With the
        one total order above, a spilled count is newer than the stored one. Times come back
        in the database's precision (whole ms): the door compares them with the stored ones.
        A set-aside file is not read: it was not written back, so its counts are not newer."""
        spilled = spill_file.read_in_order(self._replay_path, self._spill_path)
        counts = {item.member_id: item for item in spilled if isinstance(item, PinFailures)}
        return {
            member_id: replace(row, locked_until=from_ms_or_none(to_ms_or_none(row.locked_until)))
            for member_id, row in counts.items()
        }

    def _replay_spill(self, conn: sqlite3.Connection) -> bool:
        """Write back what was spilled, at start or once caught up; False if stopping first.
        The file is renamed first (under the lock, a moment), so spilling goes on into a new
        file meanwhile."""
        replay = self._replay_path
        with self._spill_lock:
            if self._spill_path.exists() and not replay.exists():
                os.replace(self._spill_path, replay)
        if not replay.exists():
            return True
        items = spill_file.in_order(spill_file.read_spilled(replay))
        failures = 0
        while True:
            try:
                written = self._write(conn, items)
                break
            except sqlite3.OperationalError as exc:
                failures += 1
                if failures == 1:  # once per write-back, not every second of a long lock
                    log.warning("spilled events not written back yet (%s); retrying", exc)
                if self._stopping.wait(MAX_RETRY_SECONDS):
                    return False  # the .replay file stays for the next start
                self._spill_overflow()
        replay.unlink()
        with self._spill_lock:
            self._spilling = False  # a new episode warns again
        log.info("%d spilled event write(s) written back from %s", len(items), replay)
        self._notify(written)
        return True
