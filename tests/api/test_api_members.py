"""Members through the API: add, block, PIN, remove, search, CSV import; no card or PIN leaks."""

from __future__ import annotations

import logging
from contextlib import closing

import pytest

from controller.domain.clock import local_date
from controller.services.runtime import Runtime
from tests.api.api_support import Api, events_of
from tests.helpers import csv_file, csv_line

SECRET_PIN = "905173"
CARD = "04012345678901"


def add(api: Api, **changes):
    body = {
        "patron_id": "P00042",
        "display_name": "A.B.",
        "cards": ["0401 2345 6789 01"],
        "birth_date": "1990-02-03",
        "pin": SECRET_PIN,
    }
    body.update(changes)
    return api.client.post("/api/v1/members", json=body, headers=api.auth("manny"))


def stored_members(runtime: Runtime) -> dict[str, tuple]:
    """What the database holds, read on a connection of its own."""
    with closing(runtime.connection()) as conn:
        return {
            row["patron_id"]: (row["display_name"], row["pin_hash"])
            for row in conn.execute("SELECT patron_id, display_name, pin_hash FROM members")
        }


def test_add_shows_card_hints_only_and_is_audited(api: Api, runtime: Runtime) -> None:
    response = add(api)
    assert response.status_code == 201, response.text
    member = response.json()
    assert member["card_hints"] == ["…8901"]
    assert member["adult"] is True and member["has_pin"] is True and member["status"] == []
    assert member["valid_until"] == "2027-11-25" and member["openplus_registered_on"] == "2026-11-25"
    assert CARD not in response.text and SECRET_PIN not in response.text
    assert "1990" not in response.text  # no birth date kept or shown
    audit = events_of(runtime, "reason = 'member added'")
    assert [(e["actor"], e["detail"]) for e in audit] == [("api:manny", "P00042")]
    assert add(api).status_code == 409  # same patron again


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"cards": ["12-34"]}, "unknown card format"),
        ({"pin": "12"}, "PIN must be 4 to 6 digits"),
        ({"pin": 905173}, "pin: Input should be a valid string"),
        ({"adult": True}, "give either birth_date or adult"),
        ({"birth_date": "2030-01-01"}, "birth_date 2030-01-01 is in the future"),
        ({"patron_id": "a b"}, "patron_id: String should match pattern"),
        ({"display_name": "evil\u202etxt.exe"}, "display_name: character 5 is U+202E"),
        ({"display_name": "\ufeffA.B."}, "display_name: character 1 is U+FEFF"),
    ],
)
def test_bad_members_are_422_with_a_reason_and_no_echo(api: Api, changes, problem) -> None:
    response = add(api, **changes)
    assert response.status_code == 422, response.text
    assert problem in response.text
    assert "905173" not in response.text and "12-34" not in response.text


def test_block_unblock_pin_remove(api: Api, runtime: Runtime, clock) -> None:
    add(api, pin=None, patron_id="P7")
    headers = api.auth("manny")
    blocked = api.client.post(
        "/api/v1/members/P7/block", json={"until": "2026-12-31"}, headers=headers
    ).json()
    assert blocked["entry_blocked"] is True and blocked["blocked_until"] == "2026-12-31"
    assert blocked["status"] == ["blocked", "no PIN"]
    forever = api.client.post("/api/v1/members/P7/block", headers=headers).json()
    assert forever["blocked_until"] is None and "blocked" in forever["status"]
    assert api.client.post("/api/v1/members/P7/unblock", headers=headers).json()["status"] == ["no PIN"]
    response = api.client.put("/api/v1/members/P7/pin", json={"pin": SECRET_PIN}, headers=headers)
    assert response.status_code == 200 and response.json()["has_pin"] is True
    assert SECRET_PIN not in response.text
    assert api.client.put("/api/v1/members/P7/pin", json={"pin": "abcd"}, headers=headers).status_code == 422
    assert api.client.delete("/api/v1/members/P7", headers=headers).status_code == 204
    assert api.client.get("/api/v1/members/P7", headers=headers).status_code == 404
    for path in ("/api/v1/members/P7/block", "/api/v1/members/P7/unblock"):
        assert api.client.post(path, headers=headers).status_code == 404
    reasons = [e["reason"] for e in events_of(runtime, "type = 'admin_change' AND actor = 'api:manny'")]
    assert reasons == [
        "member added",
        "member blocked",
        "member blocked",
        "member unblocked",
        "PIN set",
        "member removed",
    ]


def test_list_search_and_pages(api: Api) -> None:
    for n in range(1, 8):
        add(api, patron_id=f"P{n:05d}", display_name=f"Name {n}", cards=[f"2999000000000{n}"])
    headers = api.auth("manny")
    first = api.client.get("/api/v1/members?limit=3", headers=headers).json()
    assert first["on_list"] == 7 and [m["patron_id"] for m in first["items"]] == [
        "P00001",
        "P00002",
        "P00003",
    ]
    third = api.client.get("/api/v1/members?limit=3&offset=6", headers=headers).json()
    assert [m["patron_id"] for m in third["items"]] == ["P00007"]
    by_card = api.client.get("/api/v1/members?q=29990000000005", headers=headers).json()
    assert [m["patron_id"] for m in by_card["items"]] == ["P00005"]
    assert "29990000000005" not in str(by_card["items"])
    assert api.client.get("/api/v1/members?limit=501", headers=headers).status_code == 422


def test_import_dry_run_then_real(api: Api, runtime: Runtime) -> None:
    data = csv_file(csv_line(1), csv_line(2), csv_line(3))
    headers = api.auth("manny")
    preview = api.client.post(
        "/api/v1/members/import?dry_run=true",
        headers=headers,
        files={"file": ("export.csv", data, "text/csv")},
    )
    assert preview.json() == {"dry_run": True, "added": 3, "updated": 0, "unchanged": 0, "removed": 0}
    assert stored_members(runtime) == {}
    done = api.client.post(
        "/api/v1/members/import", headers=headers, files={"file": ("export.csv", data, "text/csv")}
    )
    assert done.json()["added"] == 3 and set(stored_members(runtime)) == {"P00001", "P00002", "P00003"}
    assert [e["actor"] for e in events_of(runtime, "reason = 'members imported'")] == ["api:manny"]


def test_a_bad_row_rejects_the_whole_import_and_the_stored_list_stays(api: Api, runtime: Runtime) -> None:
    headers = api.auth("manny")
    api.client.post(
        "/api/v1/members/import",
        headers=headers,
        files={"file": ("a.csv", csv_file(csv_line(1), csv_line(2)), "text/csv")},
    )
    before = stored_members(runtime)
    bad = csv_file(
        csv_line(1, name="Changed"), csv_line(3, cards="12-34"), csv_line(4, pin="12"), csv_line(5)
    )
    response = api.client.post(
        "/api/v1/members/import", headers=headers, files={"file": ("b.csv", bad, "text/csv")}
    )
    assert response.status_code == 422
    body = response.json()
    assert "nothing was changed" in body["detail"]
    assert [(row["line"], row["reason"].split(":")[0]) for row in body["rows"]] == [
        (3, "card …2-34"),
        (4, "PIN must be 4 to 6 digits"),
    ]
    assert stored_members(runtime) == before  # names, PIN hashes, nobody added or removed
    assert len(events_of(runtime, "reason = 'members imported'")) == 1  # only the first import


def test_oversized_bodies_are_413(api: Api) -> None:
    headers = api.auth("manny")
    huge = b"x" * (20 * 1024 * 1024 + 1)
    response = api.client.post(
        "/api/v1/members/import", headers=headers, files={"file": ("big.csv", huge, "text/csv")}
    )
    assert response.status_code == 413
    big_json = {"weekly": {}, "exceptions": [], "holidays_closed": [], "pad": "x" * 1_100_000}
    assert api.client.post("/api/v1/schedule/validate", json=big_json, headers=headers).status_code == 413


def test_a_pin_never_appears_in_responses_events_or_logs(
    api: Api, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = api.auth("manny")
    texts = [add(api).text, add(api, patron_id="P9", pin=SECRET_PIN + "0000").text]
    texts.append(api.client.put("/api/v1/members/P00042/pin", json={"pin": SECRET_PIN}, headers=headers).text)
    texts.append(
        api.client.post(
            "/api/v1/members/import?dry_run=false",
            headers=headers,
            files={
                "file": (
                    "x.csv",
                    csv_file(csv_line(42, pin=SECRET_PIN), csv_line(43, pin="9051")),
                    "text/csv",
                )
            },
        ).text
    )
    texts.append(api.client.get("/api/v1/members", headers=headers).text)
    texts.append(api.client.get("/api/v1/events?limit=500", headers=api.auth("sec")).text)
    texts.append(api.client.get("/api/v1/events/export.csv", headers=api.auth("sec")).text)
    assert len(texts) == 7 and all(texts)
    everything = "\n".join(texts) + "\n" + caplog.text + "\n" + repr(events_of(runtime))
    assert SECRET_PIN not in everything


PATRON_WITH_SLASH = "A/1"


@pytest.mark.parametrize("address", ["A/1", "A%2F1"])
def test_a_patron_id_with_a_slash_is_managed_at_its_address(api: Api, address: str) -> None:
    """The import takes such ids; once no API address reached them (all 404)."""
    headers = api.auth("manny")
    assert add(api, patron_id=PATRON_WITH_SLASH, pin=None).status_code == 201
    base = f"/api/v1/members/{address}"
    assert api.client.get(base, headers=headers).json()["patron_id"] == PATRON_WITH_SLASH
    assert api.client.post(f"{base}/block", headers=headers).json()["entry_blocked"] is True
    assert api.client.post(f"{base}/unblock", headers=headers).json()["entry_blocked"] is False
    assert api.client.put(f"{base}/pin", json={"pin": SECRET_PIN}, headers=headers).json()["has_pin"] is True
    assert api.client.delete(base, headers=headers).status_code == 204
    assert api.client.get(base, headers=headers).status_code == 404


def test_an_imported_patron_id_with_a_slash_can_be_blocked(api: Api) -> None:
    headers = api.auth("manny")
    done = api.client.post(
        "/api/v1/members/import",
        headers=headers,
        files={"file": ("export.csv", csv_file(csv_line(1, patron_id="B/2/block")), "text/csv")},
    )
    assert done.status_code == 200, done.text
    blocked = api.client.post("/api/v1/members/B/2/block/block", headers=headers)
    assert blocked.status_code == 200 and blocked.json()["patron_id"] == "B/2/block"
    assert blocked.json()["entry_blocked"] is True


@pytest.mark.parametrize(
    "until, problem",
    [
        (0, "until: use a date as text, YYYY-MM-DD (not a number)"),  # once 1970-01-01
        (0.5, "until: use a date as text, YYYY-MM-DD (not a number)"),
        ("20261231", "until: use a real date as YYYY-MM-DD between 1970 and 9998"),
        ("2026-02-30", "until: use a real date as YYYY-MM-DD between 1970 and 9998"),
        ("9999-01-01", "until: use a real date as YYYY-MM-DD between 1970 and 9998"),
        ("2026-11-24", "until: 2026-11-24 is in the past (today is 2026-11-25)"),
    ],
)
def test_a_block_until_must_be_a_day_from_today_on(api: Api, until, problem: str) -> None:
    add(api, pin=None, patron_id="P7")
    response = api.client.post("/api/v1/members/P7/block", json={"until": until}, headers=api.auth("manny"))
    assert response.status_code == 422 and problem in response.text, response.text
    assert api.client.get("/api/v1/members/P7", headers=api.auth("manny")).json()["entry_blocked"] is False


def test_a_block_until_today_is_taken_by_the_injected_clock(api: Api, clock) -> None:
    add(api, pin=None, patron_id="P7")
    clock.advance(days=400)
    today = local_date(clock()).isoformat()
    blocked = api.client.post("/api/v1/members/P7/block", json={"until": today}, headers=api.auth("manny"))
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["blocked_until"] == today


@pytest.mark.parametrize("patron_id", ["A 1", "A\u202e1", "\ufeffA1", "P" * 65])
def test_the_import_and_post_members_refuse_the_same_patron_ids(api: Api, patron_id: str) -> None:
    """One rule (controller/domain/patron_ids.py): what one refuses, the other refuses too."""
    headers = api.auth("manny")
    assert add(api, patron_id=patron_id).status_code == 422
    refused = api.client.post(
        "/api/v1/members/import",
        headers=headers,
        files={"file": ("export.csv", csv_file(csv_line(1, patron_id=patron_id)), "text/csv")},
    )
    assert refused.status_code == 422, refused.text
    assert [row["line"] for row in refused.json()["rows"]] == [2]
    assert "patron_id" in refused.json()["rows"][0]["reason"]
    assert patron_id not in refused.text


@pytest.mark.parametrize("birth_date", ["9982-01-01", "9999-12-31", "2026-11-26"])
def test_a_birth_date_after_today_is_422_not_a_server_error(api: Api, birth_date: str) -> None:
    """From year 9982 on the 18th birthday is not a date (adult_on overflowed: a 500); any
    day after today is a typing error. The rule is the import's (birth_date_problem)."""
    response = add(api, birth_date=birth_date)
    assert response.status_code == 422, response.text
    assert f"birth_date {birth_date} is in the future (today is 2026-11-25)" in response.text


def test_the_birth_date_bounds_are_in_the_schema(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["MemberIn"]
    birth = schema["properties"]["birth_date"]
    assert "1900-01-01" in str(birth) and "not after today" in birth["description"]


@pytest.mark.parametrize(
    "cards",
    [
        ["04012345678901", "0401 2345 6789 01"],  # the same card, spelled twice
        ["29990000000007", "04012345678901", "04012345678901"],
    ],
)
def test_the_same_card_twice_in_one_request_is_422_naming_its_last_digits(
    api: Api, runtime: Runtime, cards: list[str]
) -> None:
    response = add(api, cards=cards)
    assert response.status_code == 422, response.text
    assert "card …8901 is listed twice" in response.text
    assert CARD not in response.text
    assert stored_members(runtime) == {}


def test_a_card_another_member_has_is_409_naming_its_last_digits(api: Api, runtime: Runtime) -> None:
    assert add(api).status_code == 201
    response = add(api, patron_id="P00043", cards=["29990000000007", CARD])
    assert response.status_code == 409, response.text
    assert "card …8901 already belongs to patron P00042" in response.text
    assert CARD not in response.text
    assert set(stored_members(runtime)) == {"P00042"}
