"""GET /metrics: the Prometheus text format, for a scraper.

Built per request from the door process's report (over the door link: its counters of
entries, alarms, reader faults, LMS checks, the decision-latency histogram, and gauges read at
that moment) and what the web process sees itself (disk free for footage, the spill file,
its own `ApiServices.gauges`), with prometheus_client's own families and writer. Nothing is
kept here between scrapes: counters restart with the door process, which Prometheus handles.

Who may read it ([metrics] in the config, controller/config/metrics.py): a client whose
address is in `allow_from`, or a bearer token of a user with the security role. No token
otherwise: 401, as every other protected route; a token without the role: 403.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.api.deps import Services, Users, bearer_scheme
from controller.api.schemas import error_responses
from controller.http.health import Assessment, assess, footage_folder
from controller.http.services import ApiServices
from controller.services.login_throttle import client_address
from controller.services.metrics.health import free_bytes
from controller.services.users import Role, effective_roles

router = APIRouter(tags=["metrics"])
PREFIX = "openplus_"
# The classic text format: every name here is a plain one, so it is exact, and Prometheus 2
# (Debian Bookworm's) reads it; prometheus_client's newest default says version=1.0.0.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_GAUGE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def metrics_reader(
    request: Request,
    services: Services,
    users: Users,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Admit a listed scraper address, or a security token; else 401/403 like the API."""
    if _listed(client_address(request), services.runtime.settings.metrics.allow_from):
        return
    user = users.authenticate(credentials.credentials) if credentials else None
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing, unknown or expired bearer token" if credentials else "bearer token required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if Role.SECURITY not in effective_roles(user.roles):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {Role.SECURITY} role")


def _listed(address: str, networks: Iterable[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # "unknown", a test client's name
        return False
    return any(ip in network for network in networks)


@router.get(
    "/metrics",
    dependencies=[Depends(metrics_reader)],
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format 0.0.4.",
        },
        **error_responses(401, 403),
    },
    summary="Prometheus metrics: entries, alarms, readers, camera, disk, LMS, latency",
)
def metrics(services: Services) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(assess(services), services))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE)


class Snapshot(Collector):
    """One scrape's metric families, from one assessment (nothing is kept between scrapes)."""

    def __init__(self, found: Assessment, services: ApiServices) -> None:
        self._found = found
        self._services = services

    def collect(self) -> Iterator[Metric]:
        found, report = self._found, self._found.door_report
        yield _gauge(
            "door_up",
            "1 when the door process answers on the door link.",
            1.0 if found.door_reachable else 0.0,
        )
        if found.last_turn_age is not None:
            yield _gauge(
                "door_loop_last_turn_seconds", "Seconds since the door loop last turned.", found.last_turn_age
            )
        problems = GaugeMetricFamily(
            PREFIX + "health_problem", "1 for each problem /api/v1/health names now.", labels=["name"]
        )
        for problem in found.problems:
            problems.add_metric([problem.name.value], 1.0)
        yield problems
        free = free_bytes(footage_folder(self._services))
        if free is not None:
            yield _gauge(
                "footage_disk_free_bytes", "Free bytes on the disk the camera's footage goes to.", float(free)
            )
        yield from _door_families(report)
        yield from _gauges({**_dict(report.get("gauges")), **self._services.gauges.read_all()})


def _door_families(report: dict[str, Any]) -> Iterator[Metric]:
    """The door process's counters; nothing when it did not answer."""
    if not report:
        return
    entries = CounterMetricFamily(
        PREFIX + "door_entries",
        "Entry decisions by result (granted, refused) and reason.",
        labels=["result", "reason"],
    )
    for row in _list(report.get("entries")):
        entries.add_metric([str(row.get("result")), str(row.get("reason"))], _num(row.get("count")))
    yield entries
    yield _labelled(
        CounterMetricFamily(
            PREFIX + "door_alarms",
            "Alarms by kind (forced, held_open, card_cycling, pin_lockouts_escalating).",
            labels=["kind"],
        ),
        _dict(report.get("alarms")),
    )
    yield from _reader_families(report)
    yield from _histogram(
        "door_decision_latency_seconds",
        "From the member's last input "
        "reaching the door to the decision (with the library system: its wait too).",
        report.get("decision_latency"),
    )
    lms = _dict(report.get("lms"))
    if lms.get("enabled"):
        if lms.get("up") is not None:
            yield _gauge(
                "lms_up", "1 while a connection to the library system is up.", 1.0 if lms["up"] else 0.0
            )
        yield from _histogram(
            "lms_check_seconds",
            "Time of each patron check with the library system (SIP2), answered or not.",
            lms.get("latency"),
        )
        checks = {k: v for k, v in _dict(lms.get("checks")).items() if k != "ok"}
        yield _labelled(
            CounterMetricFamily(
                PREFIX + "lms_check_failures",
                "Patron checks without an answer, by reason (timeout, unreachable, ...).",
                labels=["reason"],
            ),
            checks,
        )
    camera = _dict(report.get("camera"))
    if camera.get("enabled"):
        yield _gauge(
            "camera_faulted", "1 while the camera is in a fault.", 1.0 if camera.get("fault") else 0.0
        )
        yield _counter(
            "camera_frames",
            "Frames in the recording segments finished since the door process started.",
            camera.get("frames"),
        )
        yield _counter(
            "camera_clip_requests_dropped",
            "Clip requests dropped because the recorder's queue was full.",
            camera.get("clip_requests_dropped"),
        )
    writer = _dict(report.get("event_writer"))
    yield _gauge(
        "event_writer_waiting", "Event writes waiting for the database.", _num(writer.get("waiting"))
    )
    yield _counter(
        "event_writer_spilled", "Event writes kept in the spill file instead.", writer.get("spilled")
    )
    yield _counter(
        "event_writer_retries",
        "Event writes tried again (database locked or failing).",
        writer.get("retries"),
    )
    yield _counter(
        "door_observer_dropped",
        "Door news the observers fell too far behind to get.",
        report.get("observers_dropped"),
    )


def _reader_families(report: dict[str, Any]) -> Iterator[Metric]:
    readers = _list(report.get("readers"))
    connected = GaugeMetricFamily(
        PREFIX + "reader_connected", "1 unless the reader reported itself disconnected.", labels=["reader"]
    )
    frames = CounterMetricFamily(PREFIX + "reader_frames", "Frames read and used.", labels=["reader"])
    errors = CounterMetricFamily(
        PREFIX + "reader_frame_errors", "Frames dropped as unreadable or invalid.", labels=["reader"]
    )
    for reader in readers:
        name = [str(reader.get("name"))]
        connected.add_metric(name, 0.0 if reader.get("connected") is False else 1.0)
        frames.add_metric(name, _num(reader.get("frames_ok")))
        errors.add_metric(name, _num(reader.get("frames_dropped")))
    faults = _list(report.get("reader_faults"))
    reconnects = CounterMetricFamily(
        PREFIX + "reader_reconnects", "Times a reader came back after it was lost.", labels=["reader"]
    )
    for reader in readers:
        reconnects.add_metric(
            [str(reader.get("name"))],
            sum(
                _num(f.get("count"))
                for f in faults
                if f.get("reader") == reader.get("name") and f.get("kind") == "reconnected"
            ),
        )
    all_faults = CounterMetricFamily(
        PREFIX + "reader_faults",
        "Reader faults by kind (disconnected, reconnected, error).",
        labels=["reader", "kind"],
    )
    for fault in faults:
        all_faults.add_metric([str(fault.get("reader")), str(fault.get("kind"))], _num(fault.get("count")))
    yield from (connected, frames, errors, reconnects, all_faults)


def _histogram(name: str, documentation: str, data: object) -> Iterator[Metric]:
    """A histogram family from Histogram.to_json (per-bucket counts, made cumulative here)."""
    data = _dict(data)
    bounds, counts = data.get("bounds"), data.get("counts")
    if not isinstance(bounds, list) or not isinstance(counts, list) or len(counts) != len(bounds) + 1:
        return
    cumulative, total = [], 0.0
    for bound, count in zip([*map(str, map(float, bounds)), "+Inf"], counts, strict=True):
        total += _num(count)
        cumulative.append((bound, total))
    yield HistogramMetricFamily(
        PREFIX + name, documentation, buckets=cumulative, sum_value=_num(data.get("sum"))
    )


def _gauges(values: dict[str, Any]) -> Iterator[Metric]:
    for name, entry in values.items():
        if not isinstance(name, str) or not _GAUGE_NAME.fullmatch(name):
            continue  # Gauges.set refuses such names; a report from elsewhere is not trusted
        entry = _dict(entry)
        yield _gauge(str(name), str(entry.get("help") or name), _num(entry.get("value")))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, value=value)


def _counter(name: str, documentation: str, value: object) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, documentation, value=_num(value))


def _labelled(family: CounterMetricFamily, counts: dict[str, Any]) -> CounterMetricFamily:
    for label, count in counts.items():
        family.add_metric([str(label)], _num(count))
    return family


def _num(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
