"""Schedule, holidays, /mode and /schedule/preview through the API, DST nights included."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from controller.domain.schedule import load_schedule_file
from controller.services.runtime import Runtime
from controller.store.schedule import load_schedule
from tests.api.api_support import Api, at, build_api, events_of
from tests.conftest import FakeClock

BEILEN = Path(__file__).resolve().parents[2] / "config" / "beilen-schedule.json"
NIGHT_WINDOW = {"weekly": {"sunday": [{"start": "01:00", "end": "05:00", "kind": "openplus"}]}}


def put_schedule(api: Api, document: dict, user: str = "manny"):
    return api.client.put("/api/v1/schedule", json=document, headers=api.auth(user))


def get(api: Api, path: str, user: str = "manny") -> dict:
    response = api.client.get(path, headers=api.auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def test_nothing_stored_means_an_empty_schedule_closed_around_the_clock(api: Api) -> None:
    state = get(api, "/api/v1/schedule")
    assert state["stored"] is False and state["updated_by"] is None
    assert state["schedule"]["weekly"]["monday"] == [] and state["schedule"]["exceptions"] == []
    mode = get(api, "/api/v1/mode")
    assert mode["mode"] == "closed" and mode["next_change"] is None and mode["since"] is None
    assert get(api, "/api/v1/schedule/preview?days=62")["changes"] == []


def test_replace_stores_audits_and_tells_the_service(api: Api, runtime: Runtime) -> None:
    document = load_schedule_file(BEILEN).model_dump(mode="json")
    response = put_schedule(api, document)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] is True and body["applied"] is True
    assert body["updated_by"] == "api:manny"
    assert body["updated_at"]["local"] == "2026-11-25T21:30:00+01:00"
    # Wednesday 21:30 local: Open+ until 22:00.
    assert body["mode"]["mode"] == "openplus"
    assert body["mode"]["next_change"]["at"]["local"] == "2026-11-25T22:00:00+01:00"
    assert api.schedule_changes == [load_schedule_file(BEILEN)]
    assert get(api, "/api/v1/schedule")["schedule"] == document
    audit = events_of(runtime, "type = 'admin_change' AND reason = 'schedule replaced'")
    assert [(e["actor"], e["detail"]) for e in audit] == [
        ("api:manny", "weekly_windows=19 exceptions=3 holidays_closed=9")
    ]


def test_overlapping_windows_are_refused_naming_both_and_nothing_changes(api: Api, runtime: Runtime) -> None:
    assert put_schedule(api, NIGHT_WINDOW).status_code == 200
    bad = {
        "weekly": {
            "monday": [
                {"start": "09:00", "end": "13:00", "kind": "staffed"},
                {"start": "12:00", "end": "14:00", "kind": "openplus"},
            ],
            "tuesday": [{"start": "10:00", "end": "09:00", "kind": "staffed"}],
        }
    }
    response = put_schedule(api, bad)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert "monday: 12:00-14:00 openplus overlaps 09:00-13:00 staffed" in problems
    assert "tuesday: 10:00-09:00 staffed: start is not before end" in problems
    assert get(api, "/api/v1/schedule")["schedule"]["weekly"]["sunday"] == NIGHT_WINDOW["weekly"]["sunday"]
    assert len(api.schedule_changes) == 1
    assert len(events_of(runtime, "reason = 'schedule replaced'")) == 1
    checked = api.client.post("/api/v1/schedule/validate", json=bad, headers=api.auth("manny"))
    assert checked.status_code == 200
    assert checked.json() == {"valid": False, "problems": problems}
    good = api.client.post("/api/v1/schedule/validate", json=NIGHT_WINDOW, headers=api.auth("manny"))
    assert good.json() == {"valid": True, "problems": []}


def test_structural_problems_are_sentences_without_the_body_prefix(api: Api) -> None:
    response = put_schedule(
        api, {"weekly": {"monday": [{"start": "9:00", "end": "13:00", "kind": "staffed"}]}, "colour": "red"}
    )
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any(p.startswith("weekly.monday.0.start: bad time '9:00'") for p in problems), problems
    assert "colour: Extra inputs are not permitted" in problems


def test_a_failing_service_callback_still_stores_but_says_not_applied(api: Api) -> None:
    def broken(schedule) -> None:
        raise RuntimeError("door loop gone")

    api.services.schedule_changed = broken
    body = put_schedule(api, NIGHT_WINDOW).json()
    assert body["applied"] is False and body["stored"] is True
    assert get(api, "/api/v1/schedule")["stored"] is True


def test_holidays_switched_on_close_the_day(api: Api, clock: FakeClock) -> None:
    put_schedule(
        api,
        {
            "weekly": {"monday": [{"start": "07:00", "end": "22:00", "kind": "openplus"}]},
            "holidays_closed": ["koningsdag"],
        },
    )
    clock.now = at("2026-04-27T08:00:00+00:00")  # Monday 27 April 2026, 10:00 local
    mode = get(api, "/api/v1/mode")
    assert (mode["mode"], mode["cause"]) == ("closure", "holiday: Koningsdag")
    assert mode["since"]["local"] == "2026-04-27T00:00:00+02:00"
    assert mode["next_change"] == {
        "at": {
            "utc": "2026-04-27T22:00:00Z",  # closure ends at midnight
            "local": "2026-04-28T00:00:00+02:00",
        },
        "mode": "closed",
    }
    listed = get(api, "/api/v1/schedule/holidays?year=2026")["holidays"]
    assert [(h["key"], h["date"], h["closed"]) for h in listed if h["closed"]] == [
        ("koningsdag", "2026-04-27", True)
    ]
    assert len(listed) == 11 and listed[0]["name_nl"] == "Nieuwjaarsdag"
    in_2025 = get(api, "/api/v1/schedule/holidays?year=2025")["holidays"]
    assert ("koningsdag", "2025-04-26") in [(h["key"], h["date"]) for h in in_2025]  # 27th a Sunday
    assert api.client.get("/api/v1/schedule/holidays?year=1999", headers=api.auth("manny")).status_code == 422


def test_mode_and_preview_on_the_march_dst_night(api: Api, clock: FakeClock) -> None:
    put_schedule(api, NIGHT_WINDOW)
    clock.now = at("2026-03-29T00:30:00+00:00")  # 01:30 CET, the clock jumps at 02:00
    mode = get(api, "/api/v1/mode")
    assert mode["mode"] == "openplus"
    assert mode["since"] == {"utc": "2026-03-29T00:00:00Z", "local": "2026-03-29T01:00:00+01:00"}
    assert mode["next_change"]["at"] == {
        "utc": "2026-03-29T03:00:00Z",
        "local": "2026-03-29T05:00:00+02:00",
    }  # 3 h, not 4
    clock.now = at("2026-03-28T12:00:00+00:00")
    changes = get(api, "/api/v1/schedule/preview?days=2")["changes"]
    assert [(c["at"]["local"], c["mode"]) for c in changes] == [
        ("2026-03-29T01:00:00+01:00", "openplus"),
        ("2026-03-29T05:00:00+02:00", "closed"),
    ]


def test_mode_and_preview_on_the_october_dst_night(api: Api, clock: FakeClock) -> None:
    put_schedule(api, NIGHT_WINDOW)
    clock.now = at("2026-10-25T01:30:00+00:00")  # 02:30 CET: the second pass of that hour
    mode = get(api, "/api/v1/mode")
    assert mode["at"]["local"] == "2026-10-25T02:30:00+01:00"
    assert mode["mode"] == "openplus"
    assert mode["since"] == {"utc": "2026-10-24T23:00:00Z", "local": "2026-10-25T01:00:00+02:00"}
    assert mode["next_change"]["at"] == {
        "utc": "2026-10-25T04:00:00Z",
        "local": "2026-10-25T05:00:00+01:00",
    }  # 5 h, not 4
    clock.now = at("2026-10-24T12:00:00+00:00")
    preview = get(api, "/api/v1/schedule/preview?days=2")
    assert preview["end"]["local"] == "2026-10-26T13:00:00+01:00"  # 48 h later, an hour less on the wall
    assert [(c["at"]["utc"], c["mode"], c["cause"]) for c in preview["changes"]] == [
        ("2026-10-24T23:00:00Z", "openplus", "weekly"),
        ("2026-10-25T04:00:00Z", "closed", "weekly"),
    ]


def test_preview_days_are_bounded(api: Api) -> None:
    for days in (0, 63, -1):
        response = api.client.get(f"/api/v1/schedule/preview?days={days}", headers=api.auth("manny"))
        assert response.status_code == 422, days
        assert response.json()["problems"][0].startswith("query.days:")


def test_a_restart_in_the_middle_of_a_window_knows_the_mode_at_once(
    api: Api, runtime: Runtime, clock: FakeClock
) -> None:
    put_schedule(api, load_schedule_file(BEILEN).model_dump(mode="json"))
    clock.now = at("2026-11-26T19:15:00+00:00")  # Thursday 20:15 local: Open+ from 20:00
    restarted = Runtime.open(runtime.settings, clock=clock)
    again = build_api(restarted)
    mode = again.client.get("/api/v1/mode", headers=again.auth("manny")).json()
    assert mode["mode"] == "openplus"
    assert mode["since"]["local"] == "2026-11-26T20:00:00+01:00"
    assert mode["next_change"]["at"]["local"] == "2026-11-26T22:00:00+01:00"
    with closing(restarted.connection()) as conn:
        assert load_schedule(conn) == load_schedule_file(BEILEN)  # what the service starts with


def test_a_crafted_day_of_thousands_of_windows_gets_a_small_refusal(api: Api) -> None:
    """3,000 windows on one day (164 KB) once took 80 s of CPU and drew a 29-260 MB answer."""
    crafted = {"weekly": {"monday": [{"start": "09:00", "end": "17:00", "kind": "openplus"}] * 3000}}
    response = put_schedule(api, crafted)
    assert response.status_code == 422
    assert response.json()["problems"] == [
        "weekly.monday: List should have at most 96 items after validation, not 3000"
    ]
    overlapping = {
        "weekly": {
            day: [{"start": "09:00", "end": "17:00", "kind": "openplus"}] * 96
            for day in ("monday", "tuesday")
        }
    }
    response = put_schedule(api, overlapping)
    assert response.status_code == 422 and len(response.content) < 10_000
    assert response.json()["problems"][-1] == "and 140 more problems"


def test_the_cause_is_also_a_value_a_client_can_say_in_its_own_words(api: Api, clock: FakeClock) -> None:
    put_schedule(
        api,
        {
            "weekly": {"monday": [{"start": "07:00", "end": "22:00", "kind": "openplus"}]},
            "holidays_closed": ["koningsdag"],
            "exceptions": [
                {
                    "date": "2026-04-28",
                    "kind": "special_hours",
                    "note": "Markt",
                    "windows": [{"start": "10:00", "end": "16:00", "kind": "staffed"}],
                }
            ],
        },
    )
    clock.now = at("2026-04-27T08:00:00+00:00")  # Koningsdag, 10:00 local
    mode = get(api, "/api/v1/mode")
    assert (mode["cause"], mode["cause_kind"]) == ("holiday: Koningsdag", "holiday")
    changes = get(api, "/api/v1/schedule/preview?days=8")["changes"]
    assert [(c["at"]["local"], c["cause"], c["cause_kind"]) for c in changes][:3] == [
        ("2026-04-28T00:00:00+02:00", "special hours: Markt", "special_hours"),
        ("2026-04-28T10:00:00+02:00", "special hours: Markt", "special_hours"),
        ("2026-04-28T16:00:00+02:00", "special hours: Markt", "special_hours"),
    ]
    assert changes[3]["cause_kind"] == "weekly"  # Monday 4 May, 07:00
