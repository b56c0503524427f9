"""A member's data request (export, erase) and the event log forgetting patron ids (AVG/GDPR),
checked in the database itself."""

from __future__ import annotations

import hmac
import json
import sqlite3
from contextlib import closing
from datetime import date, timedelta

import pytest

from controller.cli.main import main
from controller.domain.events import Event, EventType
from controller.services.pin_cache import card_digest_key
from controller.services.privacy import (
    PSEUDONYM_PREFIX,
    UnknownMember,
    erase_member,
    export_member,
    masked_ref,
    pseudonym_key,
    pseudonym_of,
    pseudonymise_old_events,
)
from controller.services.runtime import Runtime
from controller.services.use_cases import footage_dir, footage_service, member_admin
from controller.store.codec import to_ms
from controller.store.footage import FootageStore
from tests.helpers import member_row


def rows(runtime: Runtime, sql: str, *params) -> list[tuple]:
    with closing(runtime.connection()) as conn:
        return [tuple(r) for r in conn.execute(sql, params)]


def record(runtime: Runtime, at, ref: str | None = "P00001", kind=EventType.ACCESS_GRANTED) -> int:
    with closing(runtime.connection()) as conn:
        return runtime.events(conn).record(
            Event(
                type=kind,
                at=at,
                door="entrance",
                member_ref=ref,
                card_hint="0001",
                reason="granted",
                detail="reader=rfid",
            )
        )


@pytest.fixture
def member(runtime: Runtime, clock) -> Runtime:
    """P00001 added and blocked by staff (audited), a wrong PIN counted, two entries."""
    with closing(runtime.connection()) as conn:
        admin = member_admin(runtime, conn)
        admin.add(member_row(1, cards=("29990000000001", "0005000001")), "api:anna")
        admin.add(member_row(2), "api:anna")
        admin.block("P00001", "api:anna")
        conn.execute(
            "INSERT INTO pin_failures (member_id, failures, locked_until_ms, lockouts) "
            "SELECT id, 2, NULL, 1 FROM members WHERE patron_id = 'P00001'"
        )
    record(runtime, clock() - timedelta(days=1))
    record(runtime, clock())
    record(runtime, clock(), ref="P00002")
    return runtime


def add_clip(runtime: Runtime, event_id: int, keep_until: date | None = None) -> str:
    relative = f"clips/{event_id}.mp4"
    path = footage_dir(runtime.settings) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"video")
    with closing(runtime.connection()) as conn:
        store = FootageStore(conn)
        store.add_clip(event_id, relative, 0, 1000, 10, 5)
        if keep_until is not None:
            store.set_keep(event_id, keep_until, "api:sec", "incident 12")
    return relative


def test_export_holds_everything_on_the_member_but_the_pin_hash(member, clock):
    [first, second] = [
        r[0] for r in rows(member, "SELECT id FROM events WHERE member_ref = 'P00001' ORDER BY id")
    ]
    add_clip(member, second)
    data = export_member(member, "P00001", "cli:officer")
    text = json.dumps(data)
    assert data["member"]["patron_id"] == "P00001" and data["member"]["entry_blocked"] == 1
    assert data["member"]["has_pin"] is True
    assert "pin_hash" not in text and "pin_salt" not in text
    salt, digest = rows(member, "SELECT pin_salt, pin_hash FROM members WHERE patron_id = 'P00001'")[0]
    assert salt.hex() not in text and digest.hex() not in text
    assert data["cards"] == ["0005000001", "29990000000001"]
    assert data["pin_lockouts"] == {"wrong_pins": 2, "locked_until": None, "lockouts_in_a_row": 1}
    assert [e["id"] for e in data["events"]] == [first, second]
    assert [e["reason"] for e in data["staff_changes"]] == ["member added", "member blocked"]
    assert [c["event_id"] for c in data["footage"]] == [second]
    assert "P00002" not in text
    with pytest.raises(UnknownMember):
        export_member(member, "NOBODY", "cli:officer")
    assert rows(member, "SELECT actor, detail FROM events WHERE reason = 'member data exported'") == [
        ("cli:officer", "P00001")
    ]


def test_erase_removes_the_member_and_pseudonymises_their_events(member, clock):
    ids = [r[0] for r in rows(member, "SELECT id FROM events WHERE member_ref = 'P00001' ORDER BY id")]
    gone = add_clip(member, ids[0])
    kept = add_clip(member, ids[1], keep_until=date(2027, 1, 1))
    with closing(member.connection()) as conn:  # a PIN the library system accepted for a card
        digest = hmac.digest(card_digest_key(member.hasher), b"29990000000001", "sha256")
        conn.execute("INSERT INTO lms_pin_cache VALUES (?, x'00', x'00', 0)", (digest,))

    done = erase_member(member, "P00001", "cli:privacy-officer", footage_service(member))

    pseudonym = pseudonym_of(pseudonym_key(member.hasher), "P00001")
    assert done.pseudonym == pseudonym and pseudonym.startswith(PSEUDONYM_PREFIX)
    assert (done.events, done.clips_deleted, done.clips_kept) == (2, 1, 1)
    assert rows(member, "SELECT COUNT(*) FROM members WHERE patron_id = 'P00001'") == [(0,)]
    assert rows(member, "SELECT COUNT(*) FROM cards WHERE card LIKE '%00001'") == [(0,)]
    assert rows(member, "SELECT COUNT(*) FROM pin_failures") == [(0,)]
    assert rows(member, "SELECT COUNT(*) FROM lms_pin_cache") == [(0,)]
    # Statistics survive: the same events, the card hint kept, the patron id nowhere.
    assert rows(member, "SELECT id, member_ref, card_hint FROM events WHERE id IN (?, ?)", *ids) == [
        (ids[0], pseudonym, "0001"),
        (ids[1], pseudonym, "0001"),
    ]
    assert rows(
        member, "SELECT COUNT(*) FROM events WHERE member_ref = 'P00001' OR detail LIKE '%P00001%'"
    ) == [(0,)]
    assert rows(member, "SELECT detail FROM events WHERE reason = 'member blocked'")[0][0].startswith(
        pseudonym
    )
    # The clip kept for an incident stays; the other is gone, file and row.
    root = footage_dir(member.settings)
    assert not (root / gone).exists() and (root / kept).exists()
    assert rows(member, "SELECT event_id FROM event_clips") == [(ids[1],)]
    assert rows(member, "SELECT actor, detail FROM events WHERE reason = 'member erased'") == [
        ("cli:privacy-officer", f"{pseudonym} events=2 audit_lines=2 clips_deleted=1 clips_kept=1")
    ]
    # P00002 is untouched.
    assert rows(member, "SELECT COUNT(*) FROM events WHERE member_ref = 'P00002'") == [(1,)]


def test_events_older_than_the_setting_are_pseudonymised_in_place(member, clock):
    old = record(member, clock() - timedelta(days=31))
    with closing(member.connection()) as conn:  # an old audit line naming the member
        conn.execute(
            "UPDATE events SET ts_ms = ? WHERE reason = 'member added'",
            (to_ms(clock() - timedelta(days=40)),),
        )
    changed = pseudonymise_old_events(member, 30, clock, batch=1)  # several batches
    pseudonym = pseudonym_of(pseudonym_key(member.hasher), "P00001")
    assert changed == 3  # the old entry and the two "member added" lines
    assert rows(member, "SELECT member_ref, card_hint, type FROM events WHERE id = ?", old) == [
        (pseudonym, "0001", "access_granted")
    ]
    assert sorted(
        r[0].split()[0] for r in rows(member, "SELECT detail FROM events WHERE reason = 'member added'")
    ) == sorted([pseudonym, pseudonym_of(pseudonym_key(member.hasher), "P00002")])
    # Recent events keep the patron id; a second run changes nothing; statistics still add up.
    assert rows(member, "SELECT COUNT(*) FROM events WHERE member_ref = 'P00001'") == [(2,)]
    assert pseudonymise_old_events(member, 30, clock) == 0
    assert rows(member, "SELECT COUNT(*) FROM events WHERE type = 'access_granted'") == [(4,)]


def test_the_door_process_daily_job_pseudonymises(live_branch, clock):
    _, service = live_branch
    old = record(service.runtime, clock() - timedelta(days=31))
    recent = record(service.runtime, clock() - timedelta(days=29))
    service.apply_retention()
    refs = dict(rows(service.runtime, "SELECT id, member_ref FROM events WHERE id IN (?, ?)", old, recent))
    assert refs[old].startswith(PSEUDONYM_PREFIX) and refs[recent] == "P00001"
    assert "retention" in service.timers.pending()  # planned again for tomorrow


def test_masked_ids_for_viewers_without_the_manager_role():
    assert masked_ref("P00001") == "***01"
    assert masked_ref("AB") == "***"
    assert masked_ref(None) is None
    assert masked_ref("pseudo:0123456789abcdef") == "pseudo:0123456789abcdef"


def test_cli_export_and_erase(member, settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "p1.json"
    assert main(["privacy", "export", "P00001", "-o", str(out)]) == 0
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert json.loads(out.read_text())["member"]["patron_id"] == "P00001"
    assert main(["privacy", "erase", "P00001"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["privacy", "erase", "P00001", "--yes"]) == 0
    assert "P00001 erased" in capsys.readouterr().out
    assert main(["privacy", "export", "P00001"]) == 2
    assert "not on this controller's list" in capsys.readouterr().err
    with closing(sqlite3.connect(settings.data_dir / "openplus-door.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE member_ref = 'P00001'").fetchone() == (0,)


def test_security_sees_masked_ids_in_the_api_and_pages_and_managers_whole(runtime, clock):
    from tests.api.api_support import build_api
    from tests.web.web_support import sign_in

    record(runtime, clock(), ref="P00001")
    with closing(runtime.connection()) as conn:
        member_admin(runtime, conn).add(member_row(1), "api:anna")  # an audit line naming P00001
    api = build_api(runtime)
    seen = api.client.get("/api/v1/events", headers=api.auth("sec")).json()["events"]
    assert {e["member_ref"] for e in seen} == {"***01", None}
    assert "P00001" not in json.dumps(seen)
    csv_text = api.client.get("/api/v1/events/export.csv", headers=api.auth("sec")).text
    assert "***01" in csv_text and "P00001" not in csv_text
    whole = api.client.get("/api/v1/events", headers=api.auth("admin")).json()["events"]
    assert {e["member_ref"] for e in whole} == {"P00001", None}
    sign_in(api.client, "sec")
    page = api.client.get("/entries").text
    assert "***01" in page and "P00001" not in page
    event_id = seen[-1]["id"]
    assert "P00001" not in api.client.get(f"/entries/{event_id}").text
    admin = build_api(runtime)
    sign_in(admin.client, "admin")
    assert "P00001" in admin.client.get("/entries").text


def test_a_manager_downloads_a_members_data_from_the_members_page(member):
    from tests.api.api_support import build_api
    from tests.web.web_support import sign_in

    web = build_api(member)
    sign_in(web.client, "manny")
    assert "/members/export.json?patron=P00001" in web.client.get("/members").text
    answer = web.client.get("/members/export.json?patron=P00001")
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    assert answer.json()["member"]["patron_id"] == "P00001" and "pin_hash" not in answer.text
    assert web.client.get("/members/export.json?patron=NOBODY").status_code == 404
    assert rows(member, "SELECT actor FROM events WHERE reason = 'member data exported'") == [("web:manny",)]
    security = build_api(member)
    sign_in(security.client, "sec")
    assert security.client.get("/members/export.json?patron=P00001").status_code == 403
