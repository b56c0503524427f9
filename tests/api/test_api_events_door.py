"""Events (filters, cursor pages, CSV export) and the door (state, remote unlock) via the API."""

from __future__ import annotations

import csv
import io
from contextlib import closing
from datetime import timedelta

from controller.domain.days import MOMENT_PATTERN
from controller.domain.events import DoorAlarm, Event, EventType
from controller.services.runtime import Runtime
from controller.store.events import EventLog
from tests.api.api_support import Api, at

T0 = at("2026-10-24T22:00:00+00:00")  # Sunday 25 October 00:00 CEST; clocks go back at 03:00


def seed(runtime: Runtime, later: timedelta = timedelta(0)) -> list[int]:
    """Twelve events, one every 30 minutes across the October DST night (or `later`)."""
    kinds = [EventType.ACCESS_GRANTED, EventType.ACCESS_REFUSED, EventType.DOOR_OPENED]
    with closing(runtime.connection()) as conn:
        log = EventLog(conn)
        return [
            log.record(
                Event(
                    type=kinds[n % 3],
                    at=T0 + later + timedelta(minutes=30 * n),
                    door="entrance",
                    reason="wrong_pin" if kinds[n % 3] is EventType.ACCESS_REFUSED else None,
                    member_ref=f"P{n % 2}",
                    card_hint="…1234",
                    detail="=cmd|' /C calc'!A0" if n == 5 else None,
                )
            )
            for n in range(12)
        ]


def page(api: Api, query: str = "", user: str = "sec") -> dict:
    response = api.client.get(f"/api/v1/events?{query}", headers=api.auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def test_filters_and_both_times(api: Api, runtime: Runtime) -> None:
    ids = seed(runtime)
    seeded = "type=access_granted&type=access_refused&type=door_opened"  # not the setup's audit rows
    newest = page(api, f"limit=1&{seeded}")["events"][0]
    assert newest["id"] == ids[-1]
    assert newest["at"] == {"utc": "2026-10-25T03:30:00Z", "local": "2026-10-25T04:30:00+01:00"}
    refused = page(api, "type=access_refused&reason=wrong_pin")["events"]
    assert [e["id"] for e in refused] == [ids[n] for n in (10, 7, 4, 1)]
    both = page(api, "type=access_refused&type=door_opened&member=P1")["events"]
    assert [e["id"] for e in both] == [ids[n] for n in (11, 7, 5, 1)]
    # Local 02:30 is ambiguous that night: it means the first pass (CEST, 00:30 UTC).
    # The second pass is reached with an explicit offset.
    window = page(api, "since=2026-10-25T02:30&until=2026-10-25T02:30:00%2B01:00")["events"]
    assert [e["at"]["local"] for e in reversed(window)] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert page(api, "since=2026-10-25T00:30:00Z&until=2026-10-25T01:00:00Z")["events"][0]["id"] == ids[5]


def test_cursor_pages_cover_everything_once_even_while_events_arrive(api: Api, runtime: Runtime) -> None:
    ids = seed(runtime)
    seen, cursor = [], None
    while True:
        query = "limit=5&type=access_granted&type=access_refused&type=door_opened"
        body = page(api, query + (f"&cursor={cursor}" if cursor else ""))
        seen += [e["id"] for e in body["events"]]
        if len(seen) == 5:
            seed(runtime, later=timedelta(days=1))  # arriving now must not shift the pages
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)  # not the 12 added meanwhile


def test_bad_cursor_is_400_and_bad_limits_or_times_422(api: Api) -> None:
    headers = api.auth("sec")
    for cursor in ("garbage!", "ZTE6eA", "aGVsbG8", "ZTE6LTU"):  # -, "e1:x", "hello", "e1:-5"
        response = api.client.get(f"/api/v1/events?cursor={cursor}", headers=headers)
        assert response.status_code == 400, cursor
        assert "cursor" in response.json()["detail"]
    for query in ("limit=0", "limit=501", "since=yesterday", "type=coffee", "since=0001-01-01T00:00"):
        assert api.client.get(f"/api/v1/events?{query}", headers=headers).status_code == 422, query


def test_csv_export_streams_the_same_filter_with_local_and_utc(api: Api, runtime: Runtime) -> None:
    ids = seed(runtime)
    response = api.client.get("/api/v1/events/export.csv?member=P1", headers=api.auth("sec"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="events-20261125-2130.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == [
        "id",
        "time_local",
        "time_utc",
        "type",
        "door",
        "reason",
        "member",
        "card_hint",
        "actor",
        "detail",
        "decided_by",
    ]
    assert [int(r[0]) for r in rows[1:]] == [ids[n] for n in (11, 9, 7, 5, 3, 1)]
    assert rows[-1][1:3] == ["2026-10-25 00:30:00+02:00", "2026-10-24 22:30:00+00:00"]
    assert rows[4][9] == "'=cmd|' /C calc'!A0"  # never a live spreadsheet formula


def test_a_big_export_comes_in_batches(api: Api, runtime: Runtime) -> None:
    with closing(runtime.connection()) as conn:
        conn.execute("BEGIN")
        log = EventLog(conn)
        for n in range(2500):
            log.record(Event(type=EventType.DOOR_CLOSED, at=T0 + timedelta(seconds=n), door="e"))
        conn.execute("COMMIT")
    lines = api.client.get(
        "/api/v1/events/export.csv?type=door_closed", headers=api.auth("sec")
    ).text.splitlines()
    assert len(lines) == 2501 and len(set(lines)) == 2501


def test_door_state_as_json(api: Api) -> None:
    state = api.client.get("/api/v1/door", headers=api.auth("sec")).json()
    assert state == {
        "mode": "openplus",
        "phase": "idle",
        "relay_unlocked": False,
        "door_open": False,
        "alarm": None,
        "message": {"nl": "Houd uw pas voor de lezer", "en": "Hold your card to the reader"},
        "at": {"utc": "2026-11-25T20:30:00Z", "local": "2026-11-25T21:30:00+01:00"},
        "occupancy": None,
    }  # no people counter


def test_the_door_alarm_is_one_of_the_documented_kinds_by_its_string(api: Api) -> None:
    api.door.alarm = DoorAlarm.HELD_OPEN
    state = api.client.get("/api/v1/door", headers=api.auth("sec")).json()
    assert state["alarm"] == "held_open" and state["door_open"] is True
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["DoorAlarm"]["enum"] == ["forced", "held_open"]


def test_remote_unlock_names_the_user_and_503_when_the_door_is_down(api: Api) -> None:
    response = api.client.post("/api/v1/door/unlock", headers=api.auth("sec"))
    assert response.status_code == 202
    assert response.json()["requested_by"] == "api:sec"
    assert api.door.unlocks == ["api:sec"]
    api.door.running = False
    assert api.client.get("/api/v1/door", headers=api.auth("sec")).status_code == 503
    down = api.client.post("/api/v1/door/unlock", headers=api.auth("admin"))
    assert down.status_code == 503 and down.json()["detail"] == "the door is not running"
    assert api.door.unlocks == ["api:sec"]


def test_since_and_until_take_iso_text_only_as_the_document_says(api: Api) -> None:
    """Schemathesis sent since=1.175494351e-38 and got 200: a number was read as seconds after
    1970, though the document asked for a date-time. Now both say ISO text, with the same
    pattern, for the event log, its export and the footage list."""
    schema = api.client.get("/openapi.json").json()
    for path in ("/api/v1/events", "/api/v1/events/export.csv", "/api/v1/footage/segments"):
        for query in (
            "since=7",
            "since=0.5",
            "until=1700000000",
            "since=1.175494351e-38",
            "until=-5.2e-182",
            "since=2026-03-29",
            "since=2026-03-29T07",
        ):
            response = api.client.get(f"{path}?{query}", headers=api.auth("admin"))
            assert response.status_code == 422, (path, query)
            assert "use a time as ISO text" in response.json()["problems"][0], (path, query)
        for query in (
            "since=2026-03-29T07:00",
            "since=2026-03-29 07:00:30.5",
            "until=2026-03-29T05:00:00Z",
            "until=2026-03-29T07:00:00%2B02:00",
        ):
            assert api.client.get(f"{path}?{query}", headers=api.auth("admin")).status_code == 200, (
                path,
                query,
            )
        since = next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "since")
        assert since["schema"]["anyOf"][0] == {"type": "string", "pattern": MOMENT_PATTERN}
