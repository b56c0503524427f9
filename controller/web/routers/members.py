"""The members page: search, block/unblock with a note, a member's page with their flags, a
new PIN, and the CSV import. Managers change; security reads the list and a member's page (who
is blocked, until when and why), without the forms.

The import is two steps: the upload is checked with a dry run (counts, or every bad row with
its line number; nothing changes either way), and only the confirm step replaces the list.
A PIN is typed twice, sent only in a POST body, never shown, echoed or logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import AfterValidator

from controller.domain.cards import card_hint
from controller.domain.clock import local_date
from controller.domain.days import iso_day
from controller.domain.members import BLOCK_NOTE_MAX_LENGTH, Category, Member, block_note_problem
from controller.domain.patron_ids import PATRON_ID_MAX_LENGTH, checked_patron_id
from controller.domain.pins import PinFormatError, validate_pin
from controller.domain.roles import Role
from controller.http.deps import Members
from controller.services.member_import import MAX_IMPORT_BYTES, ImportRejected
from controller.services.privacy import UnknownMember, export_member
from controller.store.members import MemberError
from controller.web.imports import PendingImport
from controller.web.pages import (
    AnyViewer,
    Conn,
    ManagerForm,
    ManagerPage,
    PageForbidden,
    PageNotFound,
    redirect,
    render,
    services_of,
    web_state,
)
from controller.web.sessions import Viewer

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
DONE = ("blocked", "blocked_until", "unblocked", "pin_set")
# The API's patron id rule (controller/domain/patron_ids.py); a refused one gets the form error page.
PatronField = Annotated[
    str, Form(min_length=1, max_length=PATRON_ID_MAX_LENGTH), AfterValidator(checked_patron_id)
]


@dataclass(frozen=True)
class MemberLine:
    """One row of the list as the page shows it: card numbers only by their last digits."""

    patron_id: str
    display_name: str
    category: Category
    card_hints: list[str]
    valid_until: date
    entry_blocked: bool
    blocked_until: date | None
    status_keys: list[str]  # why the door would refuse, as text keys
    block_note: str | None = None  # why the block was set (only while blocked)
    guardian_consent: bool = False
    more_time: bool = False

    @classmethod
    def of(cls, member: Member, now: datetime, lms: bool = False) -> MemberLine:
        """`lms`: the branch checks PINs with its library system (see Member.status)."""
        return cls(
            member.patron_id,
            member.display_name,
            member.category,
            [card_hint(card) for card in member.cards],
            member.valid_until,
            member.entry_blocked,
            member.blocked_until,
            [status.text_key for status in member.status(local_date(now), now, lms=lms)],
            member.block_note if member.entry_blocked else None,
            member.guardian_consent,
            member.more_time,
        )


def _reader(viewer: AnyViewer) -> Viewer:
    """Managers and security may read the list and a member's page (security must see who is
    blocked and why); only managers get the forms (their POSTs take ManagerForm)."""
    if not (viewer.may(Role.MANAGER) or viewer.may(Role.SECURITY)):
        raise PageForbidden(Role.MANAGER)
    return viewer


ReaderPage = Annotated[Viewer, Depends(_reader)]


@router.get("/members")
def members_page(
    request: Request,
    viewer: ReaderPage,
    conn: Conn,
    q: str = "",
    offset: int = 0,
    done: str = "",
    patron: str = "",
    until: str = "",
) -> Response:
    day = iso_day(until[:10]) if done == "blocked" and until else None
    return _list_page(
        request,
        viewer,
        conn,
        q=q,
        offset=offset,
        done="blocked_until" if day else done,
        patron=patron,
        until=day.isoformat() if day else "",
    )


def _list_page(
    request: Request,
    viewer: Viewer,
    conn,
    q: str = "",
    offset: int = 0,
    done: str = "",
    patron: str = "",
    until: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    """The list (a search, a page of it), with what was just done or why it was refused."""
    runtime = services_of(request).runtime
    store = runtime.members(conn)
    offset = max(0, min(offset, 10_000_000))
    now = runtime.clock()
    found = store.search(q[:100].strip(), PAGE_SIZE + 1, offset)
    lms = runtime.settings.lms.enabled
    members = [MemberLine.of(m, now, lms) for m in found[:PAGE_SIZE]]
    return render(
        request,
        "members.html",
        viewer,
        status_code=status_code,
        q=q[:100],
        members=members,
        on_list=store.count(),
        offset=offset,
        page_size=PAGE_SIZE,
        more=len(found) > PAGE_SIZE,
        done=done if done in DONE else "",
        patron=patron[:64],
        until=until,
        error=error,
        today=local_date(now).isoformat(),
        may_change=viewer.may(Role.MANAGER),
        note_max=BLOCK_NOTE_MAX_LENGTH,
    )


def _back(done: str, patron: str, until: date | None = None) -> Response:
    extra = {"until": until.isoformat()} if until else {}
    return redirect("/members?" + urlencode({"done": done, "patron": patron, "q": patron, **extra}))


def until_error(until: str, today: date) -> str:
    """The string key saying why a typed 'until' is refused ('' when it is fine): the API's
    rule, a real YYYY-MM-DD date in the years it takes, and not before today."""
    day = iso_day(until)
    if day is None:
        return "members.until_bad"
    return "members.until_past" if day < today else ""


@router.post("/members/block")
def block(
    request: Request,
    viewer: ManagerForm,
    conn: Conn,
    admin: Members,
    patron_id: PatronField,
    until: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=4 * BLOCK_NOTE_MAX_LENGTH)] = "",
) -> Response:
    until, note = until.strip(), note.strip()
    today = local_date(services_of(request).runtime.clock())
    error = until_error(until, today) if until else ""
    if not error and note and block_note_problem(note):
        error = "members.note.bad"
    if error:  # back to the member's row, saying what is wrong with the date or the note
        return _list_page(request, viewer, conn, q=patron_id, patron=patron_id, error=error, status_code=422)
    day = iso_day(until) if until else None
    try:
        admin.block(patron_id, viewer.actor, day, note or None)
    except MemberError:
        raise PageNotFound() from None
    return _back("blocked", patron_id, day)


@router.get("/members/entry")
def member_page(
    request: Request, viewer: ReaderPage, conn: Conn, patron: str = "", saved: bool = False
) -> Response:
    """One member: the entry block with its end date and note, the flags; managers edit."""
    runtime = services_of(request).runtime
    member = runtime.members(conn).get(patron[:PATRON_ID_MAX_LENGTH])
    if member is None:
        raise PageNotFound()
    now = runtime.clock()
    return render(
        request,
        "member.html",
        viewer,
        member=MemberLine.of(member, now, runtime.settings.lms.enabled),
        saved=saved,
        today=local_date(now).isoformat(),
        may_change=viewer.may(Role.MANAGER),
        note_max=BLOCK_NOTE_MAX_LENGTH,
    )


@router.post("/members/flags")
def set_flags(
    viewer: ManagerForm,
    admin: Members,
    patron_id: PatronField,
    guardian_consent: Annotated[str, Form(max_length=8)] = "",
    more_time: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Both flags as the form's checkboxes say (an unticked box is not sent: no)."""
    try:
        admin.set_flags(
            patron_id, viewer.actor, guardian_consent=bool(guardian_consent), more_time=bool(more_time)
        )
    except MemberError:
        raise PageNotFound() from None
    return redirect("/members/entry?" + urlencode({"patron": patron_id, "saved": 1}))


@router.post("/members/unblock")
def unblock(request: Request, viewer: ManagerForm, admin: Members, patron_id: PatronField) -> Response:
    try:
        admin.unblock(patron_id, viewer.actor)
    except MemberError:
        raise PageNotFound() from None
    return _back("unblocked", patron_id)


@router.get("/members/export.json")
def export_member_data(request: Request, viewer: ManagerPage, patron: str = "") -> Response:
    """Everything held on one member, as a JSON download: their data request (AVG/GDPR,
    docs/privacy.md), the same as `openplus-door privacy export`; audited."""
    try:
        data = export_member(services_of(request).runtime, patron[:PATRON_ID_MAX_LENGTH], viewer.actor)
    except UnknownMember:
        raise PageNotFound() from None
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="member-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/members/pin")
def pin_page(request: Request, viewer: ManagerPage, conn: Conn, patron: str = "") -> Response:
    if services_of(request).runtime.members(conn).get(patron[:64]) is None:
        raise PageNotFound()
    return render(request, "member_pin.html", viewer, patron=patron, error="")


@router.post("/members/pin")
def set_pin(
    request: Request,
    viewer: ManagerForm,
    conn: Conn,
    admin: Members,
    patron_id: PatronField,
    pin: Annotated[str, Form(max_length=16)] = "",
    pin_again: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    if services_of(request).runtime.members(conn).get(patron_id) is None:
        raise PageNotFound()
    error = ""
    if pin != pin_again:
        error = "pin.mismatch"
    else:
        try:
            validate_pin(pin)
        except PinFormatError:
            error = "pin.bad"
    if error:  # the page comes back with empty PIN fields: a PIN is never sent back
        return render(request, "member_pin.html", viewer, status_code=422, patron=patron_id, error=error)
    admin.set_pin(patron_id, pin, viewer.actor)
    return _back("pin_set", patron_id)


@router.post("/members/import", max_body_size=MAX_IMPORT_BYTES)
def import_preview(
    request: Request, viewer: ManagerForm, admin: Members, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    data = file.file.read() if file is not None else b""
    if not data:
        return render(request, "import_preview.html", viewer, status_code=422, no_file=True)
    name = (file.filename or "export.csv")[:100] if file is not None else ""
    try:
        counts = admin.import_csv(data, viewer.actor, dry_run=True)
    except ImportRejected as rejected:
        return render(
            request,
            "import_preview.html",
            viewer,
            status_code=422,
            filename=name,
            errors=rejected.errors,
            total=rejected.total,
        )
    now = services_of(request).runtime.clock()
    key = web_state(request).imports.put(PendingImport(viewer.session.id, data, name, now))
    return render(request, "import_preview.html", viewer, filename=name, counts=counts, key=key)


@router.post("/members/import/confirm")
def import_confirm(
    request: Request, viewer: ManagerForm, admin: Members, key: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    now = services_of(request).runtime.clock()
    pending = web_state(request).imports.take(key, viewer.session.id, now)
    if pending is None:
        return render(request, "import_preview.html", viewer, status_code=410, expired=True)
    try:
        counts = admin.import_csv(pending.data, viewer.actor)
    except ImportRejected as rejected:  # the stored list changed since the preview
        return render(
            request,
            "import_preview.html",
            viewer,
            status_code=422,
            filename=pending.filename,
            errors=rejected.errors,
            total=rejected.total,
        )
    return render(
        request, "import_preview.html", viewer, filename=pending.filename, counts=counts, imported=True
    )
