"""Who is inside: the people counter's crossings, tailgating, and the safe closing round.

The door machine (machine.py) owns one `Counting` and tells it what happens at the door; all of
it runs on the door thread, so a crossing costs an integer add and nothing else.

* Occupancy: people inside = in - out, never below 0. At every change into Open+ it restarts
  at 0: staff hand over the building (a free door in staffed hours lets groups through that
  the beams miscount), and a building that was armed all night was empty.
* Openings (Open+ only): from a grant's pulse or the door opening to the door shut and no
  pulse running, plus `settle_seconds` for the last crossing to arrive. More people in than
  grants in one opening is one `tailgating` event (a clip event, an alert); fewer people in
  than grants is one `grant_unused` event (a card shown with nobody coming in). A remote
  unlock counts as a grant; an exit button's pulse does not.
* The closing round: when Open+ ends with someone inside by the count, the door says so,
  keeps the lights on and does not arm the alarm line. After `door.closing_round_minutes`
  it logs `occupied_at_closing` (an alert) and says it again. It arms when the count reaches
  0, or when a staff card is granted at the door (only staff are granted while closed):
  that is the "building empty" confirmation, logged as `building_empty_confirmed`.
* The alarm as a building output (`role = "alarm"`, a HeldAlarm): the schedule arms it, so
  the door holds it off instead, from the moment someone is inside in Open+ (before the mode
  change that arms it can come) until the count is 0 or a staff card confirms.
* A restart keeps the count: the state file (controller.door.state_file, written off the
  door thread) holds the tally, and `resume` at start-up takes it back when it is still this
  mode period's: no change into Open+ since it was written (that restarts the count anyway),
  not saved in another mode than the Open+ now, and at most MAX_RESUME_AGE old. Restored in
  a closed mode with someone inside after Open+, the closing round goes on (the alarm held
  off, said again, the alert after the round's minutes). Otherwise it starts at 0, and an
  event says which and why (a `service` event, reason occupancy_restored or _discarded).
Crossings come from the beams or the camera line counter ([counter] source), both as
PersonCrossed inputs. Without a counter none of this runs and the door arms as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from controller.config.counter import PeopleCounter
from controller.config.settings import DoorSettings
from controller.domain.cards import card_hint
from controller.domain.clock import Clock, Monotonic, format_local
from controller.domain.events import Event, EventType
from controller.domain.messages import DoorMessage
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.domain.timeline import changes_between, mode_only_at
from controller.door.ports import DoorOutputs, OccupancyCount
from controller.door.state_file import NoSavedCount, SavedCount
from drivers.beams import PersonCrossed

CLOSING_ROUND = DoorMessage.of("display.closing_round")
CLEARED = "recovered"  # the reason of the occupied_at_closing that says it is over (no alert)
RESTORED, DISCARDED = "occupancy_restored", "occupancy_discarded"  # `service` event reasons
MAX_RESUME_AGE = timedelta(hours=24)  # an older saved count is no one's any more

log = logging.getLogger(__name__)

Log = Callable[[Event], object]  # EventSink.record
Say = Callable[[DoorMessage], None]


@runtime_checkable
class HeldAlarm(Protocol):
    """An alarm line the schedule arms (controller.door.outputs_runner.DoorLine): the door
    can only hold it off."""

    def hold_off(self, held: bool) -> None: ...


@dataclass
class Opening:
    """One door opening's tally: grants given and people who came in."""

    grants: int = 0
    people_in: int = 0
    last_in_at: datetime | None = None  # when the last one came in: the clip is around it
    settle_until: float | None = None  # monotonic; None while the door is open or unlocked


class Counting:
    """Occupancy, the current opening and the closing round of one door."""

    def __init__(
        self,
        counter: PeopleCounter | None,
        settings: DoorSettings,
        outputs: DoorOutputs,
        door: str,
        clock: Clock,
        monotonic: Monotonic,
        log: Log,
        say: Say,
    ) -> None:
        self.fitted = counter is not None
        self._settle = counter.settle_seconds if counter is not None else 0.0
        self._round_seconds = settings.closing_round_minutes * 60
        self._beep_seconds = settings.alarm_beep_seconds
        self._out, self._door, self._clock, self._mono = outputs, door, clock, monotonic
        self._log, self._say = log, say
        self.inside = 0
        self._came_in = self._went_out = 0  # crossings since self._since
        self._since = clock()
        self._resumed: DoorMode | None = None  # the mode a resumed count is for, until the first change
        self._opening: Opening | None = None
        self._round_alert_at: float | None = None  # monotonic; the round's alert is due
        self.closing_round = False  # the alarm waits for an empty building
        self._alerted = False
        self._mode = DoorMode.CLOSED

    @property
    def occupancy(self) -> int | None:
        """People inside by the count; None without a counter."""
        return self.inside if self.fitted else None

    def record(self) -> OccupancyCount | None:
        """The tally as the state file keeps it; None without a counter."""
        if not self.fitted:
            return None
        return OccupancyCount(
            self._count_mode, self.inside, self._came_in, self._went_out, self._since, self.closing_round
        )

    @property
    def _count_mode(self) -> DoorMode:
        """The mode this count is for: a resumed count's until the door hears its first mode."""
        return self._resumed if self._resumed is not None else self._mode

    # --- what the door tells it ----------------------------------------------------------
    def crossed(self, crossing: PersonCrossed) -> None:
        if crossing.direction == "in":
            self.inside += 1
            self._came_in += 1
            if self._opening is not None:
                self._opening.people_in += 1
                self._opening.last_in_at = crossing.at
        else:
            self._went_out += 1
            self.inside = max(0, self.inside - 1)
        if self.closing_round and self.inside == 0:
            self._end_round(confirmed_by=None)
        self._hold_alarm()

    def granted(self, mode: DoorMode, card: str | None) -> None:
        """A grant (or a remote unlock: `card` None). While closing, a granted card is staff
        confirming the building empty."""
        if self.closing_round and card is not None:
            self._end_round(confirmed_by=card)
        if self.fitted and mode is DoorMode.OPENPLUS:
            self._open().grants += 1

    def door_opened(self, mode: DoorMode) -> None:
        if self.fitted and mode is DoorMode.OPENPLUS:
            self._open()

    def mode_changed(self, before: DoorMode, after: DoorMode) -> bool:
        """True: the door must not arm the alarm or switch the lights off (the round does,
        once the building is empty)."""
        self._opening = None  # an opening across a mode change is not judged
        self._mode = after
        resumed, self._resumed = self._resumed, None
        if after is DoorMode.OPENPLUS and before is not DoorMode.OPENPLUS and resumed is not after:
            self.inside = self._came_in = self._went_out = 0
            self._since = self._clock()
        if not after.is_closed:
            self.closing_round, self._round_alert_at = False, None
        elif self.fitted and before is DoorMode.OPENPLUS and self.inside > 0:
            self._start_round()
        self._hold_alarm()
        return self.closing_round

    def tick(self, t: float, shut: bool) -> None:
        """`shut`: the door is closed and no pulse runs; the opening then settles and ends."""
        opening = self._opening
        if opening is not None:
            if not shut:
                opening.settle_until = None
            elif opening.settle_until is None:
                opening.settle_until = t + self._settle
            if opening.settle_until is not None and t >= opening.settle_until:
                self._judge(opening)
        if self._round_alert_at is not None and t >= self._round_alert_at:
            self._round_alert_at = None
            self._alerted = True
            self._event(
                EventType.OCCUPIED_AT_CLOSING,
                reason=None,
                detail=f"{self.inside} inside by the people counter; alarm not armed",
            )
            self._announce()

    def deadline(self) -> float | None:
        times = [
            t
            for t in (self._round_alert_at, self._opening.settle_until if self._opening else None)
            if t is not None
        ]
        return min(times) if times else None

    # --- a restart ------------------------------------------------------------------------
    def resume(
        self, saved: SavedCount | NoSavedCount, schedule: Schedule, mode_override: DoorMode | None
    ) -> None:
        """At start-up (before the door loop runs): take back the count the last run kept when
        it still holds, else start at 0; either way say so. Never raises: a count that cannot
        be judged is discarded and the door starts as it always did. Ends by setting the
        alarm's hold: BranchService builds the alarm line held off until this says."""
        try:
            if self.fitted:
                self._resume(saved, schedule, mode_override)
        except Exception as exc:  # the door must start; 0 inside is what it did before
            log.exception("people count: the saved count could not be judged; starting at 0")
            self.inside, self._resumed, self.closing_round, self._round_alert_at = 0, None, False, None
            self._event(EventType.SERVICE, reason=DISCARDED, detail=f"could not be judged ({exc}); 0 inside")
        finally:
            self._hold_alarm()

    def _resume(
        self, saved: SavedCount | NoSavedCount, schedule: Schedule, override: DoorMode | None
    ) -> None:
        if isinstance(saved, NoSavedCount):
            if saved.corrupt:
                log.warning("people count starts at 0: %s", saved.why)
                self._event(EventType.SERVICE, reason=DISCARDED, detail=f"{saved.why}; 0 inside")
            else:
                log.info("people count starts at 0: %s", saved.why)
            return
        now = self._clock()
        if override is not None:
            mode, changes = override, []  # a mode set by hand: no schedule edges to look at
        else:
            mode = mode_only_at(schedule, now)
            changes = changes_between(schedule, saved.at, now) if saved.at < now else []
        count = saved.count
        why = resume_problem(saved, now, mode, [c.at for c in changes if c.mode is DoorMode.OPENPLUS])
        if why is not None:
            log.warning("people count starts at 0: the saved count (%d inside) %s", count.inside, why)
            self._event(
                EventType.SERVICE,
                reason=DISCARDED,
                detail=f"saved count of {count.inside} inside {why}; 0 inside",
            )
            return
        self.inside, self._came_in, self._went_out = count.inside, count.came_in, count.went_out
        self._since, self._resumed = count.since, mode
        emptying = (
            mode.is_closed and self.inside > 0 and (count.closing_round or count.mode is DoorMode.OPENPLUS)
        )
        detail = (
            f"{self.inside} inside ({self._came_in} in, {self._went_out} out since "
            f"{format_local(self._since)}), saved {format_local(saved.at)} in {count.mode.value}"
        )
        log.info("people count restored: %s", detail)
        self._event(
            EventType.SERVICE,
            reason=RESTORED,
            detail=detail + ("; the closing round goes on, alarm held off" if emptying else ""),
        )
        if emptying:
            self._start_round()  # said again; the alert after the round's minutes from now

    # --- inside ---------------------------------------------------------------------------
    def _open(self) -> Opening:
        """The opening under way; one that was settling ends first (a new pulse, a new door
        opening: its people are the new opening's)."""
        if self._opening is not None and self._opening.settle_until is not None:
            self._judge(self._opening)
        if self._opening is None:
            self._opening = Opening()
        return self._opening

    def _judge(self, opening: Opening) -> None:
        self._opening = None
        if opening.people_in > opening.grants:
            self._event(
                EventType.TAILGATING,
                at=opening.last_in_at,
                detail=f"{opening.people_in} in on {opening.grants} grant(s)",
            )
        elif opening.people_in < opening.grants:
            self._event(EventType.GRANT_UNUSED, detail=f"{opening.people_in} in on {opening.grants} grant(s)")

    def _start_round(self) -> None:
        self.closing_round, self._alerted = True, False
        self._round_alert_at = self._mono() + self._round_seconds
        if self._out.lights is not None:
            self._out.lights.on()  # whatever the schedule says: nobody is left in the dark
        self._announce()

    def _hold_alarm(self) -> None:
        """Hold an alarm the schedule arms off while the count says someone is inside: in Open+
        (its end may arm it) and through the closing round."""
        if isinstance(self._out.alarm, HeldAlarm):
            inside = self._count_mode is DoorMode.OPENPLUS and self.inside > 0
            self._out.alarm.hold_off(self.fitted and (self.closing_round or inside))

    def _end_round(self, confirmed_by: str | None) -> None:
        """The building is empty by the count, or staff say so: arm, lights off."""
        self.closing_round, self._round_alert_at = False, None
        if confirmed_by is not None:
            self._event(
                EventType.BUILDING_EMPTY_CONFIRMED,
                card=confirmed_by,
                detail=f"staff card; {self.inside} inside by the count, reset to 0",
            )
            self.inside = 0
        elif self._alerted:
            self._event(
                EventType.OCCUPIED_AT_CLOSING,
                reason=CLEARED,
                detail="empty by the people counter; alarm armed",
            )
        if self._out.alarm is not None:
            self._out.alarm.arm()
        self._hold_alarm()
        if self._out.lights is not None:
            self._out.lights.off()

    def _announce(self) -> None:
        self._say(CLOSING_ROUND)
        self._out.signals.beep(self._beep_seconds, times=2)

    def _event(
        self,
        kind: EventType,
        *,
        at: datetime | None = None,
        reason: str | None = None,
        card: str | None = None,
        detail: str | None = None,
    ) -> None:
        self._log(
            Event(
                type=kind,
                at=at or self._clock(),
                door=self._door,
                reason=reason,
                card_hint=card_hint(card) if card is not None else None,
                detail=detail,
            )
        )


def resume_problem(
    saved: SavedCount, now: datetime, mode: DoorMode, openplus_began: list[datetime]
) -> str | None:
    """Why a saved count no longer holds at `now` in `mode` (None: it does). `openplus_began`:
    the schedule's changes into Open+ since it was saved, each of which restarts the count."""
    age = now - saved.at
    if age < timedelta(0):
        return f"was saved at {format_local(saved.at)}, after now (the clock was set back)"
    if age > MAX_RESUME_AGE:
        hours = MAX_RESUME_AGE.total_seconds() / 3600
        return f"was saved at {format_local(saved.at)}, more than {hours:g} h ago"
    if openplus_began:
        return f"is from before Open+ began at {format_local(openplus_began[-1])}"
    if mode is DoorMode.OPENPLUS and saved.count.mode is not DoorMode.OPENPLUS:
        return f"was counted in {saved.count.mode.value}, not in this Open+"
    return None
