"""The door process's daily housekeeping, on its clock timers: retention and the backup.

Retention first rolls the events up into statistics (the counts outlive the events), then
deletes events past their retention, pseudonymises patron ids past theirs ([privacy]) and drops
footage past its own. The backup runs on a thread of its own: a large database takes seconds,
which the timers' thread (schedule edges, closing warnings) must not spend.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, time, timedelta

from controller.config.settings import Settings
from controller.domain.clock import BRANCH_TZ, Clock, to_local, to_utc
from controller.door.timers import ClockTimers
from controller.services.backup import run_daily_backup
from controller.services.footage import FootageService
from controller.services.privacy import pseudonymise_old_events
from controller.services.runtime import Runtime
from controller.services.statistics import rollup_statistics

log = logging.getLogger(__name__)

RETENTION_TIMER = "retention"
BACKUP_TIMER = "backup"  # at [backup] at, when [backup] dir is set
# Daily at 04:15 branch time: outside 02:00-03:00, so DST neither skips nor doubles it.
RETENTION_AT = time(4, 15)


def next_daily_run(now: datetime, at: time) -> datetime:
    """The first branch-local `at` after `now`, as UTC (only for times outside the DST hour)."""
    local = to_local(now)
    run = datetime.combine(local.date(), at, tzinfo=BRANCH_TZ)
    if run <= local:
        run = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=BRANCH_TZ)
    return to_utc(run)


class DailyJobs:
    """Plans and runs the daily jobs of one door process."""

    def __init__(
        self, settings: Settings, runtime: Runtime, footage: FootageService, timers: ClockTimers, clock: Clock
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.footage = footage
        self.timers = timers
        self._clock = clock

    def plan(self) -> None:
        self._plan_retention()
        self._plan_backup()

    def apply_retention(self) -> None:
        """The daily job: events past their retention, patron ids past theirs ([privacy]),
        then footage past its own."""
        try:
            self.purge_events()
            pseudonymise_old_events(self.runtime, self.settings.privacy.member_ref_days, self._clock)
            self.footage.apply_retention(self._clock())
        finally:
            self._plan_retention()

    def _plan_retention(self) -> None:
        self.timers.add(RETENTION_TIMER, next_daily_run(self._clock(), RETENTION_AT), self.apply_retention)

    def _plan_backup(self) -> None:
        """The daily backup, run on a thread of its own: a large database takes seconds, which
        the timers' thread (schedule edges, closing warnings) must not spend."""
        if self.settings.backup.dir is not None:
            self.timers.add(
                BACKUP_TIMER, next_daily_run(self._clock(), self.settings.backup.at), self._start_backup
            )

    def _start_backup(self) -> None:
        threading.Thread(
            target=run_daily_backup, args=(self.settings, self._clock), name="daily-backup", daemon=True
        ).start()
        self._plan_backup()

    def purge_events(self) -> int:
        rollup_statistics(self.runtime, self._clock)  # first: the counts outlive the events
        cutoff = self._clock() - timedelta(days=self.settings.events.retention_days)
        conn = self.runtime.connection()
        try:
            removed = self.runtime.events(conn).purge(cutoff)
        finally:
            conn.close()
        log.info("retention: %d event(s) deleted", removed)
        return removed
