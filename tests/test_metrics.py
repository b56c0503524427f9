"""/metrics: the door process's counters over the real door link, scraped from the real app and
read back with prometheus_client's own parser; who may scrape; the counters' bounded labels."""

from __future__ import annotations

from contextlib import closing

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from controller.app import create_app
from controller.config.settings import CameraSettings, Settings, parse_settings
from controller.domain.clock import utc_now
from controller.domain.events import Event, EventType
from controller.domain.modes import DoorMode
from controller.door.link_client import DoorLinkClient
from controller.door.link_server import DoorLinkServer
from controller.http.services import ApiServices
from controller.services.footage import FootageService
from controller.services.lms import LmsAnswer, LmsLink, LmsQuestion
from controller.services.metrics import DoorMetrics, Gauges
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from controller.sim.console import Console
from drivers.sip2 import LmsUnavailable
from tests.api.api_support import CHEAP_PASSWORDS, PASSWORD, build_api
from tests.conftest import DEMO_CARD, SECOND_CARD

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample as {(name, sorted labels): value}, through prometheus_client's parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, tuple(sorted(labels.items()))))


def web_on_link(runtime: Runtime, link: DoorLinkClient) -> tuple[TestClient, dict[str, str]]:
    """The web process's app on the door link, and a security user's bearer header."""
    passwords = Passwords(CHEAP_PASSWORDS)
    with closing(runtime.connection()) as conn:
        admin = user_admin(runtime, conn, passwords)
        admin.create("sec", PASSWORD, ["security"], "test")
        token = admin.create_token("sec", "prometheus", "test", None).secret
    footage = FootageService(
        CameraSettings(), runtime.settings.data_dir / "footage", runtime.connection, "entrance", runtime.clock
    )
    app = create_app(
        ApiServices(
            runtime=runtime,
            door=link,
            passwords=passwords,
            schedule_changed=link.schedule_changed,
            footage=footage,
        )
    )
    return TestClient(app), {"Authorization": f"Bearer {token}"}


@pytest.fixture
def scraped_branch(live_branch, tmp_path):
    """The wired door (mock pins, ptys) with its door link server, the web app on the link,
    and a console to act at the entrance."""
    sim, service = live_branch
    server = DoorLinkServer(tmp_path / "door.sock", service, lambda: None)  # type: ignore[arg-type]
    server.start()
    client, auth = web_on_link(service.runtime, DoorLinkClient(server.path))
    console = Console(service, sim, lambda line: None)

    def scrape() -> Samples:
        assert service.writer.flush(5)  # the counters move once the events are committed
        response = client.get("/metrics", headers=auth)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return parse(response.text)

    yield service, console, scrape, client
    server.stop()


def test_a_grant_and_a_refusal_move_their_counters_and_the_decision_histogram(scraped_branch):
    service, console, scrape, _client = scraped_branch
    before = scrape()
    assert value(before, "openplus_door_up") == 1.0
    assert value(before, "openplus_door_entries_total", result="granted", reason="granted") is None
    console.execute(f"card {DEMO_CARD}")
    console.execute("keys 1234#")
    console.execute(f"card {SECOND_CARD}")
    console.execute("keys 9999#")
    after = scrape()
    assert value(after, "openplus_door_entries_total", result="granted", reason="granted") == 1.0
    assert value(after, "openplus_door_entries_total", result="refused", reason="wrong_pin") == 1.0
    # The injected monotonic clock stands still: both decisions took 0 s by it.
    assert value(after, "openplus_door_decision_latency_seconds_count") == 2.0
    assert value(after, "openplus_door_decision_latency_seconds_bucket", le="0.005") == 2.0
    for reader in ("rfid", "scanner", "keypad"):
        assert value(after, "openplus_reader_connected", reader=reader) == 1.0
        assert value(after, "openplus_reader_frame_errors_total", reader=reader) == 0.0
    assert value(after, "openplus_reader_frames_total", reader="scanner") == 2.0  # two cards
    assert value(after, "openplus_event_writer_waiting") == 0.0
    assert value(after, "openplus_footage_disk_free_bytes") > 0
    assert value(after, "openplus_door_alarms_total", kind="forced") is None  # none happened


def test_a_reader_that_disconnects_is_counted_named_in_health_and_back_again(scraped_branch):
    service, _console, scrape, client = scraped_branch
    from drivers.base import ReaderFault

    service.loop.submit(ReaderFault("rfid", "disconnected", "/dev/ttyAMA0 gone"))
    assert service.loop.wait_idle(5)
    samples = scrape()
    assert value(samples, "openplus_reader_connected", reader="rfid") == 0.0
    assert value(samples, "openplus_reader_faults_total", reader="rfid", kind="disconnected") == 1.0
    assert value(samples, "openplus_health_problem", name="reader_disconnected") == 1.0
    health = client.get("/api/v1/health").json()
    assert health["status"] == "degraded"
    assert door_parts(health) == [{"name": "reader_disconnected", "detail": "reader rfid is disconnected"}]
    service.loop.submit(ReaderFault("rfid", "reconnected"))
    assert service.loop.wait_idle(5)
    again = scrape()
    assert value(again, "openplus_reader_reconnects_total", reader="rfid") == 1.0
    assert value(again, "openplus_reader_connected", reader="rfid") == 1.0
    assert door_parts(client.get("/api/v1/health").json()) == []


def door_parts(health: dict) -> list[dict]:
    """The problems but the loop's age: the fixture's door turns on the injected monotonic
    clock, which the link compares with the real one, so its loop looks hours late."""
    return [problem for problem in health["problems"] if problem["name"] != "door_loop_late"]


# --- who may scrape -----------------------------------------------------------------------------
def test_metrics_needs_a_security_token(runtime):
    api = build_api(runtime)
    no_token = api.client.get("/metrics")
    assert no_token.status_code == 401 and no_token.json()["detail"] == "bearer token required"
    assert no_token.headers["www-authenticate"] == "Bearer"
    wrong = api.client.get("/metrics", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401
    manager = api.client.get("/metrics", headers=api.auth("manny"))
    assert manager.status_code == 403 and manager.json()["detail"] == "this needs the security role"
    for user in ("sec", "admin"):
        assert api.client.get("/metrics", headers=api.auth(user)).status_code == 200


def settings_allowing(tmp_path, networks: list[str]) -> Settings:
    return parse_settings(
        {"storage": {"data_dir": str(tmp_path / "data")}, "metrics": {"allow_from": networks}}, "test"
    )


def test_a_listed_scraper_address_needs_no_token_and_others_still_do(tmp_path, clock):
    runtime = Runtime.open(settings_allowing(tmp_path, ["192.0.2.0/28", "::1"]), clock=clock)
    app = build_api(runtime).client.app
    listed = TestClient(app, client=("192.0.2.10", 40000)).get("/metrics")
    assert listed.status_code == 200
    assert value(parse(listed.text), "openplus_door_up") == 1.0
    assert TestClient(app, client=("::1", 40000)).get("/metrics").status_code == 200
    assert TestClient(app, client=("192.0.2.16", 40000)).get("/metrics").status_code == 401


def test_a_bad_allow_list_entry_is_refused_by_name(tmp_path):
    from controller.config.settings import ConfigError

    with pytest.raises(ConfigError, match=r"metrics\.allow_from\.0"):
        settings_allowing(tmp_path, ["the scraper"])


def test_the_door_down_is_door_up_0_and_a_problem_never_a_500(runtime):
    api = build_api(runtime)
    api.door.running = False
    samples = parse(api.client.get("/metrics", headers=api.auth("sec")).text)
    assert value(samples, "openplus_door_up") == 0.0
    assert value(samples, "openplus_health_problem", name="door_unreachable") == 1.0
    assert value(samples, "openplus_door_entries_total", result="granted", reason="granted") is None


def test_gauges_from_both_processes_are_shown_and_a_garbled_report_is_ignored(runtime):
    api = build_api(runtime)
    api.services.gauges.set("alert_queue_length", lambda: 3, "Alerts waiting to be sent")
    api.door.report = {
        "gauges": {"door_side": {"value": 2, "help": "x"}, "Bad Name": {"value": 1}},
        "entries": "garbled",
        "readers": [None, {"name": "rfid"}],
        "decision_latency": {"bounds": [0.1], "counts": [1]},
    }
    samples = parse(api.client.get("/metrics", headers=api.auth("sec")).text)
    assert value(samples, "openplus_alert_queue_length") == 3.0
    assert value(samples, "openplus_door_side") == 2.0
    assert value(samples, "openplus_reader_connected", reader="rfid") == 1.0
    assert value(samples, "openplus_door_decision_latency_seconds_count") is None  # malformed


# --- the counters themselves ----------------------------------------------------------------------
def event(kind: EventType, reason: str | None = None, detail: str | None = None) -> Event:
    return Event(type=kind, at=utc_now(), door="entrance", reason=reason, detail=detail)


def test_labels_come_from_closed_sets():
    metrics = DoorMetrics()
    metrics.event_written(event(EventType.ACCESS_REFUSED, "no such reason"))
    metrics.event_written(event(EventType.ALARM, "card_cycling"))
    metrics.event_written(event(EventType.ALARM, "made up"))
    metrics.event_written(event(EventType.DOOR_HELD_OPEN))
    metrics.event_written(event(EventType.READER_FAULT, "odd", "reader=keypad x"))
    metrics.lms_checked(0.2, "Timeout; DROP TABLE")
    assert metrics.entries == {("refused", "other"): 1}
    assert metrics.alarms == {"card_cycling": 1, "other": 1, "held_open": 1}
    assert metrics.reader_faults == {("keypad", "other"): 1}
    assert metrics.lms_checks == {"other": 1}


def test_a_gauge_needs_a_metric_name_and_a_failing_one_is_left_out():
    gauges = Gauges()
    with pytest.raises(ValueError, match="lower-case letters"):
        gauges.set("alert-queue", lambda: 1, "no")
    gauges.set("broken", lambda: 1 / 0, "fails")
    gauges.set("unknown", lambda: None, "not known yet")
    gauges.set("fine", lambda: 4, "works")
    assert gauges.read_all() == {"fine": {"value": 4.0, "help": "works"}}


class FailingPool:
    connected = 0
    last_error = "refused"

    def check_patron(self, card: str, pin: str, timeout: float):
        raise LmsUnavailable("unreachable", "connection refused")


def test_each_lms_check_is_timed_with_its_failure_code(clock):
    metrics = DoorMetrics()
    answers: list[LmsAnswer] = []
    link = LmsLink(
        FailingPool(),
        timeout=1.0,
        deliver=answers.append,  # type: ignore[arg-type]
        events=metrics.decisions(type("Sink", (), {"record": lambda self, e: None})()),
        clock=clock,
        door="entrance",
    )
    link.on_checked = metrics.lms_checked
    link._check(LmsQuestion(1, DEMO_CARD, "1234", "rfid", DoorMode.OPENPLUS, clock(), None))
    assert answers == [LmsAnswer(1, None, "unreachable")]
    assert metrics.lms_checks == {"unreachable": 1}
    assert sum(metrics.lms_latency.counts) == 1
