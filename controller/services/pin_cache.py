"""The card + PIN pairs the library system accepted lately, for the offline policy `cached`.

Why: when the LMS does not answer in time, the branch may still admit a card whose PIN the LMS
accepted within `lms.cache_days` (see controller/services/offline_policy.py). The LMS never
exports PINs, so the door keeps its own trace of each yes: a keyed digest of the card and a
salted keyed hash of the PIN (the same `PinHasher` and pin.key as members' PINs), never either
in clear, and only for as long as they may be trusted.

Why it looks like this: the door thread reads it on every offline decision, and the door never
waits on the database. So everything is loaded into memory once at `start()` (one query), the
door reads and updates the memory (a lock held for a dict operation, never during I/O), and
every change is written behind by a thread of its own with its own connection. A write that
fails is logged and dropped: the memory is what decides until the next restart, and a lost
row only means the LMS is asked again (the next yes caches it anew).

Cost on the door thread: one HMAC for the card's digest, one for the PIN (PinHasher.verify);
`remember` adds a salt. A changed pin.key makes every row unreadable (no card digest matches),
which is the same as an empty cache: no PIN turns wrong; the old rows age out with the purge.
"""

from __future__ import annotations

import hmac
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta

from controller.domain.cards import card_hint
from controller.domain.clock import Clock, utc_now
from controller.domain.pins import PinHasher, is_pin
from controller.store.lms_cache import (
    CachedPin,
    delete_cached_pin,
    load_cached_pins,
    purge_cached_pins,
    save_cached_pin,
)

log = logging.getLogger(__name__)

# What the card-digest key is derived from (with pin.key); changing it forgets every row.
CARD_KEY_LABEL = b"openplus-door LMS card digest key v1"
QUEUE_SIZE = 10_000  # writes waiting; beyond it a write is dropped (the memory still has it)
PURGE_EVERY = timedelta(days=1)
WAKE_SECONDS = 600.0  # the writer looks whether a purge is due at least this often

Connect = Callable[[], sqlite3.Connection]
_Write = tuple[str, Callable[[sqlite3.Connection], object]]  # (what, for the log; the write)
_STOP = ("stop", None)


def card_digest_key(hasher: PinHasher) -> bytes:
    """The key of the card digests, derived from pin.key: HMAC(pin key, CARD_KEY_LABEL).

    Why derived and not pin.key itself: one key, one purpose. Why from pin.key: it is already
    kept outside the database and backed up with it, and a database without its key then
    reveals no card. PinHasher keeps its key to itself and has no public way to derive one;
    its `_digest` is that HMAC (salt + text), so it is used here, once, at construction.
    """
    return hasher._digest(CARD_KEY_LABEL, "")


class LmsPinCache:
    """Card + PIN pairs the LMS accepted within `cache_days`; read on the door thread, in memory.

    `connect` opens the writer's own connection (runtime.connection); `clock` only tells the
    writer when the daily purge is due (every decision passes its own `now`).
    Start with `start()` (load, purge, writer thread), stop with `close()`.
    """

    def __init__(
        self,
        hasher: PinHasher,
        connect: Connect,
        *,
        cache_days: int,
        clock: Clock = utc_now,
        queue_size: int = QUEUE_SIZE,
        wake_seconds: float = WAKE_SECONDS,
    ) -> None:
        if cache_days < 1:
            raise ValueError(f"cache_days must be at least 1, got {cache_days}")
        self._hasher = hasher
        self._card_key = card_digest_key(hasher)
        self._connect = connect
        self._max_age = timedelta(days=cache_days)
        self._clock = clock
        self._wake_seconds = wake_seconds
        self._entries: dict[bytes, CachedPin] = {}
        self._lock = threading.Lock()  # guards _entries; held for a dict operation only
        self._queue: queue.Queue[_Write | tuple[str, None]] = queue.Queue(maxsize=queue_size)
        self._pending = 0  # writes queued and not yet done (flush waits for 0)
        self._idle = threading.Condition()
        self._next_purge: datetime | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LmsPinCache({len(self)} card(s), max age {self._max_age.days} day(s))"

    def __len__(self) -> int:
        return len(self._entries)

    # --- start and stop (the service's thread, not the door's) ---

    def start(self) -> None:
        """Load every stored row (one query), drop those older than cache_days, and start
        the writer. A database that cannot be read is logged and the cache starts empty: the
        door works without it (the LMS is asked as always), so it must not keep the door shut."""
        if self._thread is not None:
            raise RuntimeError("LmsPinCache.start() called twice")
        try:
            with closing(self._connect()) as conn:
                rows = load_cached_pins(conn)
        except (sqlite3.Error, OSError):
            log.exception("LMS PIN cache: cannot read the stored PINs; starting empty")
            rows = []
        with self._lock:
            self._entries = {row.card_digest: row for row in rows}
        now = self._clock()
        self.purge(now)
        self._next_purge = now + PURGE_EVERY
        self._thread = threading.Thread(target=self._run, name="lms-pin-cache", daemon=True)
        self._thread.start()
        log.info("LMS PIN cache: %d card(s) loaded", len(self))

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer (waits at most `timeout` seconds)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("LMS PIN cache: writer still busy at shutdown; queued writes are lost")
            return
        thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every write queued so far is done (shutdown, tests); whether it was."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # --- the door thread: memory only ---

    def check(self, card: str, pin: str, now: datetime) -> bool | None:
        """Whether `pin` is the PIN the LMS last accepted for `card`: None when nothing is
        cached for the card (or an empty card), or the LMS's yes is older than cache_days
        (then it decides nothing); True or False otherwise. An empty or malformed PIN is
        False for a cached card: it is not the PIN the LMS accepted."""
        if not card:
            return None
        with self._lock:
            entry = self._entries.get(self._digest(card))
        if entry is None or not self._fresh(entry, now):
            return None
        return self._hasher.verify(pin, entry.pin_salt, entry.pin_hash)

    def remember(self, card: str, pin: str, now: datetime) -> None:
        """The LMS just admitted `card` with `pin`: keep them (replacing what was kept) from
        `now` on. Memory at once, the database behind. A PIN that is not 4-6 digits is not
        kept (the keypad sends no other, and an LMS that said yes to an empty PIN must not
        make it a cached one); never raises on the door's path."""
        if not card or not is_pin(pin):
            log.warning(
                "LMS PIN cache: card %s not cached: %s",
                card_hint(card),
                "no card number" if not card else "the PIN is not 4-6 digits",
            )
            return
        salt, pin_hash = self._hasher.hash(pin)
        entry = CachedPin(self._digest(card), salt, pin_hash, now)
        with self._lock:
            self._entries[entry.card_digest] = entry
        self._enqueue(f"save card {card_hint(card)}", lambda conn: save_cached_pin(conn, entry))

    def forget(self, card: str) -> None:
        """The LMS refused `card` (wrong PIN, card not valid, lost): drop what was kept, so
        an outage right after cannot let it in. Memory at once, the database behind."""
        if not card:
            return
        digest = self._digest(card)
        with self._lock:
            self._entries.pop(digest, None)
        # Written even when nothing was in memory: a start that could not load the rows may
        # have left one in the database.
        self._enqueue(f"forget card {card_hint(card)}", lambda conn: delete_cached_pin(conn, digest))

    def purge(self, now: datetime) -> int:
        """Drop every entry older than cache_days (memory at once, the database behind); how
        many left the memory. The writer calls it daily; `start()` once."""
        cut_off = now - self._max_age
        with self._lock:
            snapshot = list(self._entries.items())
        stale = [(digest, entry) for digest, entry in snapshot if entry.checked_at < cut_off]
        with self._lock:
            for digest, entry in stale:
                if self._entries.get(digest) is entry:  # not remembered anew meanwhile
                    del self._entries[digest]
        self._enqueue("purge", lambda conn: purge_cached_pins(conn, cut_off))
        return len(stale)

    # --- inside ---

    def _digest(self, card: str) -> bytes:
        return hmac.digest(self._card_key, card.encode("utf-8"), "sha256")

    def _fresh(self, entry: CachedPin, now: datetime) -> bool:
        return now - entry.checked_at <= self._max_age

    def _enqueue(self, what: str, write: Callable[[sqlite3.Connection], object]) -> None:
        """Queue a write without waiting; a full queue drops it (logged): never blocks."""
        with self._idle:
            try:
                self._queue.put_nowait((what, write))
            except queue.Full:
                log.warning("LMS PIN cache: write queue full; %s not written (kept in memory)", what)
                return
            self._pending += 1

    def _run(self) -> None:
        """The writer: each queued write in order on its own connection, the daily purge."""
        conn: sqlite3.Connection | None = None
        try:
            while True:
                try:
                    what, write = self._queue.get(timeout=self._wake_seconds)
                except queue.Empty:
                    self._purge_when_due()
                    continue
                if write is None:
                    return
                conn = self._write(conn, what, write)
                self._purge_when_due()  # queued before this write counts as done (flush)
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
        finally:
            if conn is not None:
                conn.close()

    def _write(
        self, conn: sqlite3.Connection | None, what: str, write: Callable[[sqlite3.Connection], object]
    ) -> sqlite3.Connection | None:
        """One write; a failure is logged and dropped, and the connection opened anew next time."""
        try:
            if conn is None:
                conn = self._connect()
            write(conn)
            return conn
        except Exception:  # whatever it is, it stays on this thread
            log.exception("LMS PIN cache: %s failed; the memory keeps it until a restart", what)
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            return None

    def _purge_when_due(self) -> None:
        now = self._clock()
        if self._next_purge is not None and now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            self.purge(now)
