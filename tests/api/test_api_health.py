"""GET /api/v1/health names what is degraded: from the door process's report (a door double
here; tests/test_metrics.py has the real door over the link) and from what the web process
sees itself (the disk, the event writer's spill file)."""

from __future__ import annotations

from controller.config.settings import parse_settings
from controller.door.event_writer import SPILL_FILE
from controller.services.runtime import Runtime
from tests.api.api_support import build_api

HEALTHY = {
    "readers": [{"name": "rfid", "connected": True}, {"name": "keypad", "connected": True}],
    "camera": {"enabled": True, "fault": None},
    "lms": {"enabled": True, "up": True},
    "event_writer": {"waiting": 0, "spilled": 0, "retries": 0},
}


def names(body: dict) -> list[str]:
    return [problem["name"] for problem in body["problems"]]


def test_a_healthy_report_is_ok_with_no_problems(runtime):
    api = build_api(runtime)
    api.door.report = HEALTHY
    body = api.client.get("/api/v1/health").json()
    assert (body["status"], body["reason"], body["problems"]) == ("ok", None, [])


def test_each_degraded_part_is_named(runtime):
    api = build_api(runtime)
    api.door.report = {
        "readers": [{"name": "rfid", "connected": False}, {"name": "keypad", "connected": True}],
        "camera": {"enabled": True, "fault": "stalled"},
        "lms": {"enabled": True, "up": False},
        "event_writer": {"waiting": 2500, "spilled": 0, "retries": 40},
    }
    response = api.client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["problems"] == [
        {"name": "reader_disconnected", "detail": "reader rfid is disconnected"},
        {"name": "camera_faulted", "detail": "camera fault: stalled"},
        {"name": "lms_down", "detail": "the library system is out of reach; the offline policy decides"},
        {"name": "event_backlog", "detail": "2500 event writes wait for the database"},
    ]
    assert body["reason"] == "reader rfid is disconnected"


def test_a_part_that_is_off_is_not_a_problem(runtime):
    api = build_api(runtime)
    api.door.report = {
        "camera": {"enabled": False, "fault": "stalled"},
        "lms": {"enabled": False, "up": False},
    }
    assert api.client.get("/api/v1/health").json()["status"] == "ok"


def test_spilled_events_are_named_even_with_the_door_down(runtime):
    api = build_api(runtime)
    (runtime.settings.data_dir / SPILL_FILE).write_text('{"kind": "event"}\n')
    api.door.running = False
    body = api.client.get("/api/v1/health").json()
    assert body["status"] == "down"
    assert names(body) == ["door_unreachable", "events_spilled"]
    assert body["problems"][1]["detail"] == f"events wait outside the database in {SPILL_FILE}"


def test_a_low_disk_for_footage_is_named(tmp_path, clock):
    # Asking for more free space than any test machine has makes the real disk "low".
    settings = parse_settings(
        {"storage": {"data_dir": str(tmp_path / "data")}, "metrics": {"disk_low_mb": 100_000_000}}, "test"
    )
    api = build_api(Runtime.open(settings, clock=clock))
    body = api.client.get("/api/v1/health").json()
    assert body["status"] == "degraded" and names(body) == ["disk_low"]
    assert body["problems"][0]["detail"].endswith(f"{tmp_path / 'data' / 'footage'} (below 100000000 MB)")


def test_a_stopped_door_loop_is_down_and_a_late_one_degraded(runtime):
    api = build_api(runtime)
    api.door.report = HEALTHY
    api.door.last_turn_age = 6.0
    assert names(api.client.get("/api/v1/health").json()) == ["door_loop_late"]
    api.door.loop_alive = False
    body = api.client.get("/api/v1/health").json()
    assert body["status"] == "down" and names(body) == ["door_loop_stopped"]
