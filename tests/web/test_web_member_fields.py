"""The members pages with the fields of issues 13 and 14: a manager blocks with a note and sets
a guardian's consent and "more time"; security reads who is blocked, until when and why, and
gets no forms."""

from __future__ import annotations

from contextlib import closing
from datetime import date

from controller.services.runtime import Runtime
from tests.api.api_support import Api, events_of
from tests.helpers import add_member
from tests.web.web_support import sign_in


def stored(runtime: Runtime, patron_id: str):
    with closing(runtime.connection()) as conn:
        return runtime.members(conn).get(patron_id)


def test_a_manager_blocks_with_a_note_and_the_list_and_member_page_show_it(
    web: Api, runtime: Runtime
) -> None:
    add_member(runtime, 1)
    token = sign_in(web.client, "manny")
    page = web.client.post(
        "/members/block",
        data={
            "csrf_token": token,
            "patron_id": "P00001",
            "until": "2027-01-31",
            "note": "  Damaged the kiosk  ",
        },
    )
    assert page.status_code == 200 and "P00001 is geblokkeerd tot en met 2027-01-31" in page.text
    assert "Reden: Damaged the kiosk" in page.text
    member = stored(runtime, "P00001")
    assert (member.blocked_until, member.block_note) == (date(2027, 1, 31), "Damaged the kiosk")
    detail = web.client.get("/members/entry?patron=P00001").text
    assert "2027-01-31" in detail and "Damaged the kiosk" in detail
    assert 'action="/members/unblock"' in detail and 'action="/members/flags"' in detail


def test_a_bad_note_is_refused_with_its_reason_and_nothing_is_blocked(web: Api, runtime: Runtime) -> None:
    add_member(runtime, 1)
    token = sign_in(web.client, "manny")
    page = web.client.post(
        "/members/block", data={"csrf_token": token, "patron_id": "P00001", "note": "evil\u202etxt"}
    )
    assert page.status_code == 422
    assert "de reden is één regel van hoogstens 200 tekens" in page.text
    assert not stored(runtime, "P00001").entry_blocked


def test_a_manager_sets_the_flags_on_the_member_page(web: Api, runtime: Runtime) -> None:
    add_member(runtime, 1)
    token = sign_in(web.client, "manny")
    page = web.client.post(
        "/members/flags", data={"csrf_token": token, "patron_id": "P00001", "more_time": "yes"}
    )
    assert page.status_code == 200 and "Opgeslagen voor P00001." in page.text
    assert 'name="more_time" value="yes" checked' in page.text
    member = stored(runtime, "P00001")
    assert (member.guardian_consent, member.more_time) == (False, True)
    assert [e["detail"] for e in events_of(runtime, "reason = 'member flags set'")] == [
        "P00001 guardian_consent=no more_time=yes"
    ]
    assert "meer tijd" in web.client.get("/members?q=P00001").text
    assert (
        web.client.post("/members/flags", data={"csrf_token": token, "patron_id": "nobody"}).status_code
        == 404
    )


def test_security_reads_the_block_and_its_note_but_gets_no_forms(web: Api, runtime: Runtime) -> None:
    add_member(runtime, 1, entry_blocked=True, blocked_until=date(2027, 1, 31), block_note="Shouted at staff")
    token = sign_in(web.client, "sec")
    listing = web.client.get("/members")
    assert listing.status_code == 200 and 'href="/members"' in listing.text  # in the menu
    assert "Reden: Shouted at staff" in listing.text
    assert 'action="/members/block"' not in listing.text and "/members/import" not in listing.text
    detail = web.client.get("/members/entry?patron=P00001").text
    assert "2027-01-31" in detail and "Shouted at staff" in detail
    assert "<form" not in detail.split("<main", 1)[1]
    refused = web.client.post(
        "/members/flags", data={"csrf_token": token, "patron_id": "P00001", "more_time": "yes"}
    )
    assert refused.status_code == 403 and not stored(runtime, "P00001").more_time
    assert web.client.get("/members/entry?patron=NOBODY").status_code == 404
