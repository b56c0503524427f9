"""The people counter's crossings into the statistics: in/out per branch-local hour and door
(stats_people), kept as aggregates after the events are purged, for the Statistics page's
people in/out and occupancy over the day (controller.services.statistics_report).

Every crossing counts, from the beams or the camera line counter ([counter] source), in every
mode, stamped with the time it happened (not when it is written). The door process hands each
crossing to a `PeopleTally` as it goes to the door loop (`passing`); that is one put on a
queue, so neither the door thread nor a pin's callback waits on the database. The tally's own
thread adds what came to the tables every FLUSH_SECONDS, and at stop; a write that fails
keeps its counts for the next try (a locked database costs lateness, not counts).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from typing import Any, TypeVar

from controller.domain.clock import to_local
from controller.services.runtime import Runtime
from controller.store.db import transaction
from controller.store.statistics import StatisticsStore, hour_key_ms
from drivers.beams import PersonCrossed

log = logging.getLogger(__name__)

FLUSH_SECONDS = 60.0
Item = TypeVar("Item")
HourDoor = tuple[int, str, int, str]  # hour_ms, local day, local hour, door


class PeopleTally:
    """Counts crossings per local hour in memory, and adds them to stats_people on its thread."""

    def __init__(
        self,
        runtime: Runtime,
        door: str,
        submit: Callable[[Any], None] | None = None,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        """`submit`: the door loop's; `self.submit` then passes every input to it and counts
        the crossings among them."""
        self._runtime, self._door, self._every = runtime, door, flush_seconds
        self.submit = self.passing(submit) if submit is not None else self.add_crossing
        self._arrived: queue.SimpleQueue[tuple[str, datetime]] = queue.SimpleQueue()
        self._pending: Counter[tuple[HourDoor, str]] = Counter()  # the tally thread's only
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one flush at a time (its thread, stop, a test)

    def add(self, direction: str, at: datetime) -> None:
        """One crossing (never blocks: a put on an unbounded queue)."""
        if direction not in ("in", "out"):
            raise ValueError(f"a crossing is 'in' or 'out', not {direction!r}")
        self._arrived.put((direction, at))

    def add_crossing(self, item: object) -> None:
        """Count `item` if it is a crossing."""
        if isinstance(item, PersonCrossed):
            self.add(item.direction, item.at)

    def passing(self, submit: Callable[[Item], None]) -> Callable[[Item], None]:
        """`submit` (the door loop's), counting every PersonCrossed that goes through it."""

        def submit_and_count(item: Item) -> None:
            submit(item)  # the door first
            self.add_crossing(item)

        return submit_and_count

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="people-tally", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread, then write what is left."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self._every):
            self.flush()

    def flush(self) -> int:
        """Add the crossings that came to stats_people; how many were written (0 on failure:
        they stay for the next flush)."""
        with self._lock:
            while True:
                try:
                    direction, at = self._arrived.get_nowait()
                except queue.Empty:
                    break
                local = to_local(at)
                key = (hour_key_ms(at), local.date().isoformat(), local.hour, self._door)
                self._pending[(key, direction)] += 1
            if not self._pending:
                return 0
            hours = sorted({key for key, _ in self._pending})
            try:
                with closing(self._runtime.connection()) as conn, transaction(conn):
                    store = StatisticsStore(conn)
                    for hour_ms, day, hour, door in hours:
                        key = (hour_ms, day, hour, door)
                        came, left = self._pending[(key, "in")], self._pending[(key, "out")]
                        store.add_people(hour_ms, day, hour, door, came, left)
            except Exception:  # any database trouble: keep the counts, try later
                log.exception("statistics: %d crossing(s) not written; kept for the next try", self.waiting)
                return 0
            written = sum(self._pending.values())
            self._pending.clear()
            return written

    @property
    def waiting(self) -> int:
        """Crossings counted but not yet written (those still on the queue not included)."""
        return sum(self._pending.values())
