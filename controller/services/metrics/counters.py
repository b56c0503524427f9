"""The door process's counters for `/metrics` and `/api/v1/health`: plain numbers in memory.

Why here, and plain: the door process must stay small and never wait, so it does not load
prometheus_client; it keeps integers and two fixed-bucket histograms and hands them over the
door link as JSON (`DoorMetrics.report`), and the web process turns them into Prometheus
metrics (controller/api/routers/metrics.py) and names what is degraded (routers/health.py).
The counters live as long as the process: Prometheus sees a restart as a counter reset.

Who writes what, so the door thread never waits here:
- the event writer's thread, after each event is committed (`event_written`): entries and
  refusals by reason, alarms, reader faults and which readers are disconnected, the LMS link;
- the door thread, only for the decision-latency histogram (`DecisionTimer.record`: a
  subtraction and a bucket add, no lock); the reader threads stamp when an input arrives;
- the LMS link's worker threads (`lms_checked`): each patron check's time and result;
- the door link's thread reads all of it (`report`), plus gauges read at that moment
  (reader frame counts, the event writer's backlog, the camera, `Gauges`).

Every label value comes from a closed set (a decision Reason, an alarm kind, a configured
reader name, a SIP2 failure code): anything else is counted as "other".
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from controller.domain.clock import Monotonic, monotonic
from controller.domain.decision import Reason
from controller.domain.events import AlarmReason, DoorAlarm, Event, EventSink, EventType, LmsLinkReason

# Decisions take milliseconds (a PIN hash); with a library system, up to its timeout.
DECISION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LMS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
ENTRY_RESULTS = {EventType.ACCESS_GRANTED: "granted", EventType.ACCESS_REFUSED: "refused"}
REASONS = frozenset(reason.value for reason in Reason)
ALARM_KINDS = frozenset({*(alarm.value for alarm in DoorAlarm), *(r.value for r in AlarmReason)})
READER_FAULT_KINDS = frozenset({"disconnected", "reconnected", "error"})
OTHER = "other"
_GAUGE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class Histogram:
    """Cumulative-ready bucket counts (`le` bounds, +Inf last) and their sum.

    Not locked: give each histogram one writing thread, or lock around `observe` yourself."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def to_json(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum}


class Gauges:
    """Named numbers read when someone looks: what another part keeps (e.g. the alert queue's
    length, `gauges.set("alert_queue_length", queue.qsize, "Alerts waiting to be sent")`).

    One lives in the door process (`DoorMetrics.gauges`) and one in the web process
    (`ApiServices.gauges`); /metrics shows both as `openplus_<name>`. A reader that fails or
    returns None is left out of that scrape."""

    def __init__(self) -> None:
        self._readers: dict[str, tuple[Callable[[], float | None], str]] = {}

    def set(self, name: str, read: Callable[[], float | None], help_text: str) -> None:
        if not _GAUGE_NAME.fullmatch(name):
            raise ValueError(f"gauge name {name!r}: lower-case letters, digits and _ only")
        self._readers[name] = (read, help_text)

    def read_all(self) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for name, (read, help_text) in list(self._readers.items()):
            try:
                value = read()
            except Exception:  # noqa: BLE001 - a broken source costs its own gauge only
                continue
            if value is not None:
                values[name] = {"value": float(value), "help": help_text}
        return values


class StatsReader(Protocol):
    """A reader driver as far as the counters go (drivers.base.Reader)."""

    name: str

    @property
    def stats(self) -> Any: ...


@dataclass(frozen=True)
class DoorParts:
    """What `report` reads at the moment it is asked (duck-typed: the door layer's objects)."""

    readers: Iterable[StatsReader] = ()
    writer: Any = None  # EventWriter: waiting, spilled, retries
    footage: Any = None  # FootageService: enabled camera, fault, frames_recorded, notices_dropped
    observers: Any = None  # ObserverQueue: dropped
    lms_enabled: bool = False


class DoorMetrics:
    """The door process's counters; `report(parts)` is what the door link's `metrics` op sends."""

    def __init__(self, monotonic: Monotonic = monotonic) -> None:
        self.monotonic = monotonic
        self._lock = threading.Lock()  # the writer thread and the LMS workers; never the door
        self.entries: dict[tuple[str, str], int] = {}
        self.alarms: dict[str, int] = {}
        self.reader_faults: dict[tuple[str, str], int] = {}
        self.readers_down: set[str] = set()
        self.lms_up: bool | None = None  # None: no lms_link event yet
        self.lms_checks: dict[str, int] = {}
        self.lms_latency = Histogram(LMS_BUCKETS)
        self.decision_latency = Histogram(DECISION_BUCKETS)  # the door thread alone writes it
        self.input_at: float | None = None  # when a reader last handed the door an input
        self.gauges = Gauges()

    # --- the reader threads and the door thread -------------------------------------------------
    def input_arrived(self) -> None:
        """A reader hands the door a card or key (on the reader's thread): the clock starts."""
        self.input_at = self.monotonic()

    def decisions(self, sink: EventSink) -> DecisionTimer:
        """`sink` with the decision latency measured on the way: give it to the Authorizer."""
        return DecisionTimer(sink, self)

    # --- the event writer's thread -------------------------------------------------------------
    def event_written(self, event: Event) -> None:
        """Count one committed event (the event writer's on_event_written)."""
        with self._lock:
            result = ENTRY_RESULTS.get(event.type)
            if result is not None:
                reason = event.reason if event.reason in REASONS else OTHER
                _add(self.entries, (result, str(reason)))
            elif event.type in (EventType.DOOR_FORCED, EventType.DOOR_HELD_OPEN):
                _add(
                    self.alarms,
                    (DoorAlarm.FORCED if event.type is EventType.DOOR_FORCED else DoorAlarm.HELD_OPEN).value,
                )
            elif event.type is EventType.ALARM:
                _add(self.alarms, event.reason if event.reason in ALARM_KINDS else OTHER)
            elif event.type is EventType.READER_FAULT:
                self._reader_fault(event)
            elif event.type is EventType.LMS_LINK and event.reason in (
                LmsLinkReason.LMS_LOST.value,
                LmsLinkReason.LMS_BACK.value,
            ):
                self.lms_up = event.reason == LmsLinkReason.LMS_BACK.value

    def _reader_fault(self, event: Event) -> None:
        reader = _reader_of(event.detail)
        kind = event.reason if event.reason in READER_FAULT_KINDS else OTHER
        _add(self.reader_faults, (reader, str(kind)))
        if kind == "disconnected":
            self.readers_down.add(reader)
        elif kind == "reconnected":
            self.readers_down.discard(reader)

    # --- the LMS link's workers ----------------------------------------------------------------
    def lms_checked(self, seconds: float, failure: str | None) -> None:
        """One patron check took `seconds`; `failure` is LmsAnswer.failure (None: answered)."""
        with self._lock:
            self.lms_latency.observe(seconds)
            _add(self.lms_checks, "ok" if failure is None else _label(failure))

    # --- the door link's thread ----------------------------------------------------------------
    def report(self, parts: DoorParts) -> dict[str, Any]:
        """Everything as JSON for the door link (bounded: a few dozen labelled numbers)."""
        with self._lock:
            entries = [{"result": r, "reason": why, "count": n} for (r, why), n in self.entries.items()]
            faults = [{"reader": r, "kind": k, "count": n} for (r, k), n in self.reader_faults.items()]
            alarms, down = dict(self.alarms), set(self.readers_down)
            lms = {
                "enabled": parts.lms_enabled,
                "up": self.lms_up,
                "checks": dict(self.lms_checks),
                "latency": self.lms_latency.to_json(),
            }
        return {
            "entries": entries,
            "alarms": alarms,
            "reader_faults": faults,
            "readers": [_reader_report(reader, down) for reader in parts.readers],
            "decision_latency": self.decision_latency.to_json(),
            "lms": lms,
            "camera": _camera_report(parts.footage),
            "event_writer": {
                "waiting": _number(parts.writer, "waiting"),
                "spilled": _number(parts.writer, "spilled"),
                "retries": _number(parts.writer, "retries"),
            },
            "observers_dropped": _number(parts.observers, "dropped"),
            "gauges": self.gauges.read_all(),
        }


class DecisionTimer:
    """The Authorizer's event sink: on a grant or refusal (on the door thread) the time since
    the last reader input goes into the histogram, then the event goes on to the real sink.

    With one attempt at a time that input is the one that completed it (the `#`, or the card
    when no PIN is asked); with the library system asked, the wait for its answer is in it."""

    def __init__(self, sink: EventSink, metrics: DoorMetrics) -> None:
        self._sink = sink
        self._metrics = metrics

    def record(self, event: Event) -> object:
        started = self._metrics.input_at
        if started is not None and event.type in ENTRY_RESULTS:
            self._metrics.decision_latency.observe(max(0.0, self._metrics.monotonic() - started))
        return self._sink.record(event)


def _add(counts: dict[Any, int], key: Any) -> None:
    counts[key] = counts.get(key, 0) + 1


def _label(text: str) -> str:
    """A short code as a label value (SIP2 failure codes are); anything odd is "other"."""
    return text if _GAUGE_NAME.fullmatch(text) else OTHER


def _reader_of(detail: str | None) -> str:
    """The reader name from a reader_fault event's detail ("reader=<name> ...")."""
    first = (detail or "").split(" ", 1)[0]  # names come from [hardware] readers: a closed set
    return first.removeprefix("reader=")[:64] or OTHER if first.startswith("reader=") else OTHER


def _number(source: Any, name: str) -> float | None:
    value = getattr(source, name, None)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _reader_report(reader: StatsReader, down: set[str]) -> dict[str, Any]:
    stats = getattr(reader, "stats", None)
    return {
        "name": reader.name,
        "connected": reader.name not in down,
        "frames_ok": _number(stats, "frames_ok"),
        "frames_dropped": _number(stats, "frames_dropped"),
    }


def _camera_report(footage: Any) -> dict[str, Any]:
    enabled = bool(footage is not None and getattr(footage, "recording", False))
    fault = getattr(footage, "fault", None) if enabled else None
    return {
        "enabled": enabled,
        "fault": _label(fault) if isinstance(fault, str) else None,
        "frames": _number(footage, "frames_recorded"),
        "clip_requests_dropped": _number(footage, "notices_dropped"),
    }
