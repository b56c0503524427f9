"""What the pages do, through TestClient: schedule edits, PINs, the import steps, tokens,
entries and their CSV, the language switch (tests/test_catalog.py checks the strings)."""

from __future__ import annotations

import html
import logging
import re
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.domain import catalog
from controller.domain.events import EventType
from controller.domain.problems import Place, Problem
from controller.domain.schedule import parse_schedule
from controller.domain.timeline import CauseKind
from controller.services.runtime import Runtime
from controller.store.footage import FootageStore
from controller.store.schedule import ScheduleStore
from controller.web.schedule_form import EXCEPTIONS, ScheduleForm, place_problems
from tests.api.api_support import Api, events_of
from tests.conftest import FakeClock
from tests.web.web_support import BAD_ROW, GOOD_ROWS, member_csv, record_event, register_clip, sign_in


def member_count(runtime: Runtime) -> int:
    with closing(runtime.connection()) as conn:
        return conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]


def import_file(client: TestClient, token: str, data: bytes):
    return client.post(
        "/members/import", data={"csrf_token": token}, files={"file": ("export.csv", data, "text/csv")}
    )


def import_members(client: TestClient, token: str, data: bytes) -> None:
    """Preview, then confirm."""
    key = re.search(r'name="key" value="([^"]+)"', import_file(client, token, data).text).group(1)
    assert client.post("/members/import/confirm", data={"csrf_token": token, "key": key}).status_code == 200


# --- schedule --------------------------------------------------------------------------------
def test_schedule_form_round_trips_a_schedule() -> None:
    schedule = parse_schedule(
        {
            "weekly": {
                "monday": [
                    {"start": "13:00", "end": "22:00", "kind": "openplus"},
                    {"start": "09:00", "end": "13:00", "kind": "staffed"},
                ]
            },
            "exceptions": [
                {
                    "date": "2026-12-24",
                    "kind": "special_hours",
                    "note": "Kerstavond",
                    "windows": [
                        {"start": "09:00", "end": "12:00", "kind": "staffed"},
                        {"start": "12:00", "end": "16:00", "kind": "openplus"},
                    ],
                },
                {"date": "2026-12-31", "kind": "closure"},
            ],
            "holidays_closed": ["koningsdag"],
        }
    )
    form = ScheduleForm.of(schedule)
    assert [row.start for row in form.weekly["monday"]] == ["09:00", "13:00"]
    assert parse_schedule(form.document()) == parse_schedule(ScheduleForm.of(schedule).document())
    again = parse_schedule(form.document())
    assert again.exception_on(schedule.exceptions[0].date).windows == schedule.exceptions[0].windows
    assert again.holidays_closed == ["koningsdag"]


def test_problems_are_placed_at_their_day_or_the_exceptions() -> None:
    overlap = Problem(
        "schedule.overlap",
        Place(("weekly", "monday"), name="monday"),
        start="12:00",
        end="14:00",
        kind="openplus",
        other_start="09:00",
        other_end="13:00",
        other_kind="staffed",
    )
    bad_time = Problem("schedule.bad_time", Place(("weekly", "friday", 0, "start")), value="9")
    twice = Problem("schedule.two_exceptions", Place(("exceptions", 1), name="2026-12-24"))
    bad_date = Problem(
        "schedule.refused_value", Place(("exceptions", 1, "date")), message="Input should be a valid date"
    )
    placed = place_problems([overlap, bad_time, twice, bad_date, "something else"])
    assert placed == {
        "monday": [overlap],
        "friday": [bad_time],
        EXCEPTIONS: [twice, bad_date],
        "general": ["something else"],
    }


def test_a_problem_is_placed_by_its_place_not_by_its_sentence() -> None:
    """A sentence that starts like another day's place still goes where its place says."""
    misleading = Problem(
        "schedule.refused_value", Place(("weekly", "sunday", 0, "kind")), message="monday: looks like a place"
    )
    unplaced = Problem("schedule.refused_value", message="tuesday: not a place either")
    assert place_problems([misleading, unplaced, "wednesday: a library's own words"]) == {
        "sunday": [misleading],
        "general": [unplaced, "wednesday: a library's own words"],
    }


def test_add_and_remove_rows_keep_what_was_typed(web: Api) -> None:
    token = sign_in(web.client, "manny")
    response = web.client.post(
        "/schedule",
        data={
            "csrf_token": token,
            "action": "add:tuesday",
            "tuesday-0-start": "9:0x",
            "tuesday-0-end": "17:00",
            "tuesday-0-kind": "staffed",
        },
    )
    assert response.status_code == 200
    assert 'value="9:0x"' in response.text and 'id="tuesday-1-start"' in response.text
    response = web.client.post(
        "/schedule",
        data={
            "csrf_token": token,
            "action": "remove:tuesday:0",
            "tuesday-0-start": "9:0x",
            "tuesday-0-end": "17:00",
            "tuesday-1-start": "18:00",
            "tuesday-1-end": "20:00",
        },
    )
    assert 'value="18:00"' in response.text and "9:0x" not in response.text
    assert web.schedule_changes == []


@pytest.mark.parametrize(
    ("day", "rows", "problem", "typed"),
    [
        (
            "monday",
            {
                "monday-0-start": "09:00",
                "monday-0-end": "13:00",
                "monday-0-kind": "staffed",
                "monday-1-start": "12:00",
                "monday-1-end": "14:00",
            },
            "Maandag: 12:00-14:00 Open+ overlapt met 09:00-13:00 bemand",
            "12:00",
        ),
        (
            "friday",
            {"friday-0-start": "25:00", "friday-0-end": "26:00"},
            "Vrijdag, venster 1, begintijd: tijd &#39;25:00&#39; klopt niet",
            "25:00",
        ),
        (
            "sunday",
            {"sunday-0-start": "18:00", "sunday-0-end": "08:00"},
            "het begin ligt niet vóór het einde",
            "18:00",
        ),
    ],
)
def test_an_invalid_schedule_is_shown_at_its_day_and_not_saved(
    web: Api, runtime: Runtime, day: str, rows: dict[str, str], problem: str, typed: str
) -> None:
    token = sign_in(web.client, "manny")
    response = web.client.post("/schedule", data={"csrf_token": token, "action": "save", **rows})
    assert response.status_code == 422
    fieldset = re.search(rf'id="day-{day}".*?</fieldset>', response.text, re.S).group(0)
    assert problem in fieldset and f'value="{typed}"' in fieldset
    assert 'aria-invalid="true"' in fieldset
    with closing(runtime.connection()) as conn:
        assert ScheduleStore(conn).load().is_default
    assert web.schedule_changes == []


def test_a_bad_exception_date_is_shown_at_the_exceptions_with_its_place_in_dutch(web: Api) -> None:
    token = sign_in(web.client, "manny")
    response = web.client.post(
        "/schedule",
        data={"csrf_token": token, "action": "save", "exc-0-date": "2026-13-01", "exc-0-kind": "closure"},
    )
    assert response.status_code == 422
    fieldset = re.search(r'id="exceptions".*?</fieldset>', response.text, re.S).group(0)
    assert "Uitzondering 1, datum: Input should be a valid date" in fieldset
    assert web.schedule_changes == []


def test_saving_stores_audits_and_tells_the_door_at_once(web: Api, runtime: Runtime) -> None:
    token = sign_in(web.client, "manny")
    response = web.client.post(
        "/schedule",
        data={
            "csrf_token": token,
            "action": "save",
            "holiday": ["koningsdag", "not-a-holiday"],
            "wednesday-0-start": "07:00",
            "wednesday-0-end": "24:00",
            "wednesday-0-kind": "openplus",
            "exc-0-date": "2026-12-24",
            "exc-0-kind": "special_hours",
            "exc-0-start": "09:00",
            "exc-0-end": "16:00",
            "exc-0-window_kind": "staffed",
            "exc-0-note": "Kerstavond",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert len(web.schedule_changes) == 1
    saved = web.schedule_changes[0]
    assert saved.holidays_closed == ["koningsdag"] and saved.exceptions[0].note == "Kerstavond"
    with closing(runtime.connection()) as conn:
        assert ScheduleStore(conn).load().updated_by == "web:manny"
    assert events_of(runtime, "actor = ?", ("web:manny",))[-1]["reason"] == "schedule replaced"
    page = web.client.get("/today").text  # 21:30 on a Wednesday: Open+ until midnight
    assert re.search(r'data-field="mode_label"[^>]*>Open\+<', page)


# --- members ---------------------------------------------------------------------------------
def test_import_with_a_bad_row_lists_it_and_changes_nothing(web: Api, runtime: Runtime) -> None:
    token = sign_in(web.client, "manny")
    response = import_file(web.client, token, member_csv([*GOOD_ROWS, BAD_ROW]))
    assert response.status_code == 422
    assert "<td>7</td>" in response.text and "is geen datum (gebruik JJJJ-MM-DD" in response.text
    web.client.get("/lang?to=en&next=/members")
    english = import_file(web.client, token, member_csv([*GOOD_ROWS, BAD_ROW]))
    assert "is not a date (use YYYY-MM-DD" in english.text
    assert "confirm-import" not in response.text
    assert member_count(runtime) == 0


def test_import_preview_then_confirm(web: Api, runtime: Runtime) -> None:
    token = sign_in(web.client, "manny")
    preview = import_file(web.client, token, member_csv(GOOD_ROWS))
    assert preview.status_code == 200 and member_count(runtime) == 0
    key = re.search(r'name="key" value="([^"]+)"', preview.text).group(1)
    other = TestClient(web.client.app)
    other_token = sign_in(other, "admin")
    stolen = other.post("/members/import/confirm", data={"csrf_token": other_token, "key": key})
    assert stolen.status_code == 410 and member_count(runtime) == 0  # not that session's upload
    done = web.client.post("/members/import/confirm", data={"csrf_token": token, "key": key})
    assert done.status_code == 200 and member_count(runtime) == 5
    assert (
        web.client.post("/members/import/confirm", data={"csrf_token": token, "key": key}).status_code == 410
    )  # once
    assert events_of(runtime, "reason = 'members imported'")[-1]["actor"] == "web:manny"


def test_a_pin_is_typed_twice_never_shown_and_never_logged(
    web: Api, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = sign_in(web.client, "manny")
    import_members(web.client, token, member_csv(GOOD_ROWS))
    with closing(runtime.connection()) as conn:
        assert not runtime.members(conn).get("P0002").has_pin
    mismatch = web.client.post(
        "/members/pin",
        data={"csrf_token": token, "patron_id": "P0002", "pin": "482913", "pin_again": "482914"},
    )
    assert mismatch.status_code == 422 and "482913" not in mismatch.text
    bad = web.client.post(
        "/members/pin", data={"csrf_token": token, "patron_id": "P0002", "pin": "12", "pin_again": "12"}
    )
    assert bad.status_code == 422
    done = web.client.post(
        "/members/pin",
        data={"csrf_token": token, "patron_id": "P0002", "pin": "482913", "pin_again": "482913"},
    )
    assert done.status_code == 200 and "482913" not in done.text
    with closing(runtime.connection()) as conn:
        member = runtime.members(conn).get("P0002")
        assert member.has_pin and runtime.hasher.verify("482913", member.pin_salt, member.pin_hash)
    assert "482913" not in caplog.text
    assert all("482913" not in str(row) for row in events_of(runtime))


def test_a_form_the_framework_refuses_gets_a_page_naming_the_field_not_its_value(web: Api) -> None:
    token = sign_in(web.client, "manny")
    long_pin = "12345678901234567"  # longer than any PIN field takes
    response = web.client.post(
        "/members/pin",
        data={"csrf_token": token, "patron_id": "P0002", "pin": long_pin, "pin_again": long_pin},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "Formulier niet goed ingevuld" in response.text and "veld: pin, pin_again" in response.text
    assert long_pin not in response.text
    api = web.client.post("/api/v1/auth/token", json={"username": ""})  # the API keeps its JSON
    assert api.status_code == 422 and api.json()["detail"] == "the request is not valid"


def test_an_unknown_address_is_a_page_for_a_browser_and_json_for_a_client(web: Api) -> None:
    sign_in(web.client, "manny")
    page = web.client.get("/no-such-page", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 404 and "Niet gevonden" in page.text and "Naar Vandaag" in page.text
    client = web.client.get("/api/v1/no-such-route")
    assert client.status_code == 404 and client.json()["detail"] == "Not Found"
    wrong_method = web.client.put("/members", headers={"Accept": "text/html"})
    assert wrong_method.status_code == 405 and "code 405" in wrong_method.text


def test_block_and_unblock_are_audited(web: Api, runtime: Runtime) -> None:
    token = sign_in(web.client, "manny")
    import_members(web.client, token, member_csv(GOOD_ROWS))
    page = web.client.post("/members/block", data={"csrf_token": token, "patron_id": "P0001"})
    assert "P0001 is geblokkeerd" in page.text
    with closing(runtime.connection()) as conn:
        assert runtime.members(conn).get("P0001").entry_blocked
    web.client.post("/members/unblock", data={"csrf_token": token, "patron_id": "P0001"})
    with closing(runtime.connection()) as conn:
        assert not runtime.members(conn).get("P0001").entry_blocked
    reasons = [row["reason"] for row in events_of(runtime, "actor = 'web:manny'")]
    assert "member blocked" in reasons and "member unblocked" in reasons
    assert (
        web.client.post("/members/block", data={"csrf_token": token, "patron_id": "nobody"}).status_code
        == 404
    )


# --- users and tokens --------------------------------------------------------------------------
def test_a_new_token_is_shown_once(web: Api) -> None:
    token = sign_in(web.client, "admin")
    created = web.client.post(
        "/tokens/create", data={"csrf_token": token, "username": "sec", "label": "camera wall", "days": "30"}
    )
    secret = re.search(r'id="secret" class="secret" readonly value="([^"]+)"', created.text).group(1)
    assert secret.startswith("opd_")
    assert created.headers["cache-control"] == "no-store"
    listing = web.client.get("/users").text
    assert "camera wall" in listing and secret not in listing
    assert (
        web.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).json()["username"]
        == "sec"
    )


def test_user_changes_refused_by_the_rules_say_why(web: Api) -> None:
    token = sign_in(web.client, "admin")
    short = web.client.post(
        "/users/add",
        data={
            "csrf_token": token,
            "username": "eve",
            "password": "short",
            "password_again": "short",
            "roles": ["manager"],
        },
    )
    assert short.status_code == 422 and "10" in short.text
    last_admin = web.client.post(
        "/users/roles", data={"csrf_token": token, "username": "admin", "roles": ["manager"]}
    )
    assert last_admin.status_code == 409 and "last enabled admin" in last_admin.text
    added = web.client.post(
        "/users/add",
        data={
            "csrf_token": token,
            "username": "eve",
            "password": "long enough pw",
            "password_again": "long enough pw",
            "roles": ["security"],
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert sign_in(TestClient(web.client.app), "eve", "long enough pw")


def test_a_password_reset_signs_the_user_out(web: Api) -> None:
    manny = TestClient(web.client.app)
    sign_in(manny, "manny")
    token = sign_in(web.client, "admin")
    web.client.post(
        "/users/password",
        data={
            "csrf_token": token,
            "username": "manny",
            "password": "a new password",
            "password_again": "a new password",
        },
    )
    assert manny.get("/today", follow_redirects=False).status_code == 303
    assert sign_in(manny, "manny", "a new password")


# --- entries -----------------------------------------------------------------------------------
def test_entries_filter_and_the_csv_is_the_apis(web: Api, runtime: Runtime, clock: FakeClock) -> None:
    record_event(runtime, EventType.ACCESS_GRANTED, clock(), reason="granted", member_ref="patron-one")
    record_event(runtime, EventType.ACCESS_REFUSED, clock(), reason="wrong_pin", member_ref="patron-two")
    sign_in(web.client, "sec")
    page = web.client.get("/entries?result=refused&start=2026-11-25&end=2026-11-25").text
    assert ">Pincode onjuist</td>" in page and "patron-one" not in page  # the reason said in Dutch
    assert "patron-two" not in web.client.get("/entries?start=2026-11-26").text
    assert web.client.get("/entries?start=not-a-date").status_code == 422
    query = "reason=wrong_pin"
    ours = web.client.get(f"/entries/export.csv?{query}")
    theirs = web.client.get(f"/api/v1/events/export.csv?{query}", headers=web.auth("sec"))
    assert ours.status_code == 200 and ours.content == theirs.content
    assert b"wrong_pin" in ours.content and b"patron-one" not in ours.content


def test_guessing_alarms_show_on_today_and_under_the_alarms_filter(
    web: Api, runtime: Runtime, clock: FakeClock
) -> None:
    """An `alarm` (escalating lockouts, card cycling) is security's to see, like a forced door."""
    record_event(
        runtime, EventType.ALARM, clock(), reason="pin_lockouts_escalating", member_ref="patron-guessed"
    )
    record_event(runtime, EventType.ACCESS_GRANTED, clock(), reason="granted", member_ref="patron-in")
    sign_in(web.client, "sec")
    assert "Alarm: er wordt gegokt" in web.client.get("/today").text
    alarms = web.client.get("/entries?result=alarms").text
    assert "***ed" in alarms and "***in" not in alarms  # security sees patron ids masked


def test_entries_page_through_older_events(web: Api, runtime: Runtime, clock: FakeClock) -> None:
    for n in range(55):
        record_event(
            runtime,
            EventType.ACCESS_REFUSED,
            clock.advance(seconds=1),
            reason="unknown_card",
            detail=f"n{n:02d}",
        )
    sign_in(web.client, "sec")
    first = web.client.get("/entries?result=refused").text
    older = re.search(r'href="/entries\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = web.client.get(f"/entries?{older}").text
    assert "n54" in first and "n04" not in first
    assert "n04" in second and "n54" not in second and 'rel="next"' not in second


def test_video_route_serves_the_clip_with_ranges(web: Api, runtime: Runtime, clock: FakeClock) -> None:
    event_id = record_event(runtime, EventType.ACCESS_GRANTED, clock(), reason="granted")
    path = register_clip(runtime, runtime.settings.data_dir / "footage", event_id, clock())
    sign_in(web.client, "sec")
    page = web.client.get(f"/entries/{event_id}").text
    assert f'src="/entries/{event_id}/video"' in page
    part = web.client.get(f"/entries/{event_id}/video", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == path.read_bytes()[:100]
    assert part.headers["content-type"] == "video/webm"
    assert web.client.get("/entries/999999/video").status_code == 404
    assert web.client.get("/entries/999999").status_code == 404


def test_a_recorded_mp4v_clip_is_served_as_a_webm_copy(web: Api, runtime: Runtime, clock: FakeClock) -> None:
    event_id = record_event(runtime, EventType.ACCESS_REFUSED, clock(), reason="wrong_pin")
    register_clip(runtime, runtime.settings.data_dir / "footage", event_id, clock(), fourcc="mp4v")
    sign_in(web.client, "sec")
    video = web.client.get(f"/entries/{event_id}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/webm"
    assert video.content[:4] == b"\x1a\x45\xdf\xa3"  # the EBML magic of a WebM file


def test_a_stream_copied_h264_clip_is_served_as_it_is(
    web: Api, runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    """The stream-copy recorder's MP4 holds the camera's H.264: the browser gets those bytes."""
    from tests.h264_support import write_h264

    event_id = record_event(runtime, EventType.ACCESS_GRANTED, clock(), reason="granted")
    footage_dir = runtime.settings.data_dir / "footage"
    path = write_h264(tmp_path / "camera.mp4", 10)
    start_ms = int(clock().timestamp() * 1000)
    (footage_dir / "clips").mkdir(parents=True, exist_ok=True)
    clip = footage_dir / f"clips/event-{event_id}.mp4"
    clip.write_bytes(path.read_bytes())
    with closing(runtime.connection()) as conn:
        relative = clip.relative_to(footage_dir).as_posix()
        FootageStore(conn).add_clip(event_id, relative, start_ms, start_ms + 400, 10, clip.stat().st_size)
    sign_in(web.client, "sec")
    video = web.client.get(f"/entries/{event_id}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == clip.read_bytes()  # no WebM transcode
    assert not (footage_dir / "browser").exists()


def test_the_schedule_cause_is_said_in_the_pages_language(
    web: Api, runtime: Runtime, clock: FakeClock
) -> None:
    """The cause is a value (which holiday, which note), so English names the holiday in English."""
    with closing(runtime.connection()) as conn:
        ScheduleStore(conn).save(
            parse_schedule(
                {
                    "holidays_closed": ["koningsdag"],
                    "exceptions": [
                        {
                            "date": "2026-04-28",
                            "kind": "special_hours",
                            "note": "Markt",
                            "windows": [{"start": "10:00", "end": "16:00", "kind": "staffed"}],
                        }
                    ],
                }
            ),
            clock(),
            "test",
        )
        conn.commit()
    clock.now = clock.now.replace(year=2026, month=4, day=27, hour=8, minute=0)  # 10:00 local
    sign_in(web.client, "manny")
    cause = re.compile(r'data-field="cause">([^<]*)<')
    assert cause.search(html.unescape(web.client.get("/today").text)).group(1) == "feestdag: Koningsdag"
    assert "andere tijden: Markt" in web.client.get("/schedule").text  # the preview's 10:00 change
    web.client.get("/lang?to=en&next=/today")
    assert cause.search(html.unescape(web.client.get("/today").text)).group(1) == (
        "public holiday: King's Day"
    )
    assert "special hours: Markt" in web.client.get("/schedule").text


def test_every_kind_of_schedule_cause_has_a_string() -> None:
    assert [kind.value for kind in CauseKind if not catalog.has(f"cause.{kind.value}")] == []


# --- languages and strings ---------------------------------------------------------------------
def test_the_language_switch_sets_english(web: Api) -> None:
    sign_in(web.client, "manny")
    response = web.client.get("/lang?to=en&next=/schedule")
    assert response.url.path == "/schedule"
    assert '<html lang="en">' in response.text and "Opening schedule" in response.text
    assert web.client.get("/lang?to=xx&next=https://evil.example").url.path == "/today"


@pytest.mark.parametrize("too_big", [2**63, 2**64])
@pytest.mark.parametrize("path", ["/entries/{id}", "/entries/{id}/video"])
def test_an_entry_id_beyond_what_sqlite_stores_is_the_not_found_page(
    web: Api, path: str, too_big: int
) -> None:
    """SQLite integers are signed 64-bit: a bigger id once overflowed into a 500."""
    sign_in(web.client, "sec")
    response = web.client.get(path.format(id=too_big))
    assert response.status_code == 404 and "Niet gevonden" in response.text


def blocked_until(runtime: Runtime, patron_id: str):
    with closing(runtime.connection()) as conn:
        member = runtime.members(conn).get(patron_id)
    return member.entry_blocked, member.blocked_until


def test_block_until_a_day_from_the_page(web: Api, runtime: Runtime) -> None:
    token = sign_in(web.client, "manny")
    import_members(web.client, token, member_csv(GOOD_ROWS))
    page = web.client.post(
        "/members/block", data={"csrf_token": token, "patron_id": "P0001", "until": "2026-12-31"}
    )
    assert page.status_code == 200 and "P0001 is geblokkeerd tot en met 2026-12-31" in page.text
    assert "geblokkeerd t/m 2026-12-31" in page.text
    assert str(blocked_until(runtime, "P0001")[1]) == "2026-12-31"


@pytest.mark.parametrize(
    "until, message",
    [
        ("0", "'tot en met' moet een echte datum zijn, als JJJJ-MM-DD, tussen 1970 en 9998"),
        ("31-12-2026", "'tot en met' moet een echte datum zijn, als JJJJ-MM-DD"),
        ("2026-02-30", "'tot en met' moet een echte datum zijn, als JJJJ-MM-DD"),
        ("2026-11-24", "'tot en met' ligt in het verleden. Kies vandaag (2026-11-25) of later."),
    ],
)
def test_a_block_until_the_api_refuses_is_refused_on_the_page_in_dutch(
    web: Api, runtime: Runtime, until: str, message: str
) -> None:
    token = sign_in(web.client, "manny")
    import_members(web.client, token, member_csv(GOOD_ROWS))
    page = web.client.post("/members/block", data={"csrf_token": token, "patron_id": "P0001", "until": until})
    assert page.status_code == 422 and "Niet geblokkeerd: " + message in html.unescape(page.text)
    assert blocked_until(runtime, "P0001") == (False, None)


def test_member_forms_take_the_apis_patron_id_rule(web: Api, runtime: Runtime) -> None:
    token = sign_in(web.client, "manny")
    rows = [*GOOD_ROWS, "A/1;29990000009999;Schuin;ja;2027-12-31;2025-01-01;"]
    import_members(web.client, token, member_csv(rows))
    page = web.client.post("/members/block", data={"csrf_token": token, "patron_id": "A/1"})
    assert "A/1 is geblokkeerd" in page.text and blocked_until(runtime, "A/1") == (True, None)
    refused = web.client.post("/members/block", data={"csrf_token": token, "patron_id": "P\u202e0001"})
    assert refused.status_code == 422 and "veld: patron_id" in refused.text


def test_a_rejected_import_shows_the_real_total_and_that_only_the_first_are_listed(
    web: Api, runtime: Runtime
) -> None:
    """The page said `errors | length`, at most 50, for a file with 120 bad rows."""
    token = sign_in(web.client, "manny")
    bad_rows = [f"P{n:04d};2999000000{n:04d};Lid {n};ja;2027-13-45;2025-01-01;" for n in range(1, 121)]
    response = import_file(web.client, token, member_csv(bad_rows))
    assert response.status_code == 422
    rejected = html.unescape(re.search(r'id="rejected">([^<]*)<', response.text).group(1))
    assert "120 probleem/problemen" in rejected
    assert "Alleen de eerste 50 staan hieronder." in rejected
    assert response.text.count("is geen datum (gebruik JJJJ-MM-DD") == 50
    web.client.get("/lang?to=en&next=/members")
    english = import_file(web.client, token, member_csv(bad_rows))
    assert "120 problem(s)" in english.text and "Only the first 50 are listed below." in english.text
    few = import_file(web.client, token, member_csv([*GOOD_ROWS, BAD_ROW]))
    assert "2 problem(s)" in few.text and "Only the first" not in few.text  # card and date
    assert member_count(runtime) == 0
