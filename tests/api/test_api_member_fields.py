"""The member fields of issues 13 and 14 through the API: a block's note, a guardian's consent
and "more time" in and out, their bounds (422), and the audit without the note's words."""

from __future__ import annotations

import pytest

from controller.domain.members import BLOCK_NOTE_MAX_LENGTH
from controller.services.runtime import Runtime
from tests.api.api_support import Api, events_of
from tests.helpers import add_member


def test_a_new_member_takes_the_flags_and_shows_them(api: Api) -> None:
    response = api.client.post(
        "/api/v1/members",
        headers=api.auth("manny"),
        json={
            "patron_id": "P00042",
            "display_name": "A.B.",
            "cards": ["04012345678901"],
            "adult": False,
            "guardian_consent": True,
            "more_time": True,
        },
    )
    assert response.status_code == 201, response.text
    member = response.json()
    assert (member["guardian_consent"], member["more_time"], member["block_note"]) == (True, True, None)


def test_block_with_a_note_shows_it_and_an_unblock_drops_it(api: Api, runtime: Runtime) -> None:
    add_member(runtime, 1)
    blocked = api.client.post(
        "/api/v1/members/P00001/block",
        headers=api.auth("manny"),
        json={"until": "2027-01-31", "note": "Damaged the kiosk"},
    )
    assert blocked.status_code == 200, blocked.text
    assert (blocked.json()["blocked_until"], blocked.json()["block_note"]) == (
        "2027-01-31",
        "Damaged the kiosk",
    )
    shown = api.client.get("/api/v1/members/P00001", headers=api.auth("manny")).json()
    assert shown["block_note"] == "Damaged the kiosk"
    audit = events_of(runtime, "reason = 'member blocked'")
    assert [e["detail"] for e in audit] == ["P00001 until=2027-01-31 note=yes"]
    unblocked = api.client.post("/api/v1/members/P00001/unblock", headers=api.auth("manny"))
    assert unblocked.json()["block_note"] is None and not unblocked.json()["entry_blocked"]


def test_flags_are_set_with_patch_and_audited(api: Api, runtime: Runtime) -> None:
    add_member(runtime, 1)
    response = api.client.patch("/api/v1/members/P00001", headers=api.auth("manny"), json={"more_time": True})
    assert response.status_code == 200, response.text
    assert (response.json()["more_time"], response.json()["guardian_consent"]) == (True, False)
    audit = events_of(runtime, "reason = 'member flags set'")
    assert [(e["actor"], e["detail"]) for e in audit] == [("api:manny", "P00001 more_time=yes")]
    missing = api.client.patch("/api/v1/members/NOBODY", headers=api.auth("manny"), json={"more_time": True})
    assert missing.status_code == 404
    assert (
        api.client.patch(
            "/api/v1/members/P00001", headers=api.auth("sec"), json={"more_time": True}
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("path", "method", "body", "problem"),
    [
        (
            "/block",
            "post",
            {"note": "x" * (BLOCK_NOTE_MAX_LENGTH + 1)},
            "note: Value should have at most 200 items",
        ),
        ("/block", "post", {"note": "evil\u202etxt"}, "character 5 is U+202E"),
        ("/block", "post", {"note": "two\nlines"}, "note: character 4 is U+000A"),
        ("/block", "post", {"note": ""}, "note: Value should have at least 1 item"),
        ("", "patch", {}, "give guardian_consent, more_time or both"),
        ("", "patch", {"more_time": "perhaps"}, "more_time: Input should be a valid boolean"),
    ],
)
def test_bad_notes_and_flags_are_422_naming_the_field(
    api: Api, runtime: Runtime, path, method, body, problem
) -> None:
    add_member(runtime, 1)
    response = getattr(api.client, method)(
        f"/api/v1/members/P00001{path}", headers=api.auth("manny"), json=body
    )
    assert response.status_code == 422, response.text
    assert problem in response.text
    assert not events_of(runtime, "reason LIKE 'member%'")
