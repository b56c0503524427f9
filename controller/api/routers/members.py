"""The Open+ member list (role manager): search, add, block (with a note), flags, PIN, remove,
CSV import.

All changes go through MemberAdmin, which audits them. Answers carry card hints (last 4
digits) only and never any PIN material; a PIN sent in is never echoed or logged.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, UploadFile, status
from pydantic import AfterValidator, BaseModel, Field, model_validator

from controller.api.deps import Actor, Conn, Members, Services, require_role
from controller.api.schemas import TimePoint, error_responses
from controller.domain.cards import card_hint, normalise_card
from controller.domain.clock import local_date
from controller.domain.days import YEARS, OptionalDay, past_day_problem
from controller.domain.members import (
    BLOCK_NOTE_MAX_LENGTH,
    EARLIEST_BIRTH_DATE,
    NEVER,
    Category,
    Member,
    MemberRow,
    adult_on,
    birth_date_problem,
    card_listed_twice,
)
from controller.domain.patron_ids import (
    PATRON_ID_MAX_LENGTH,
    PATRON_ID_PATTERN,
    PATRON_ID_RULE,
    checked_patron_id,
)
from controller.domain.pins import validate_pin
from controller.domain.text import PlainText
from controller.services.member_import import MAX_IMPORT_BYTES
from controller.services.members import default_valid_until
from controller.services.users import Role

_COMMON = error_responses(400, 401, 403, 422)
router = APIRouter(
    prefix="/members", tags=["members"], dependencies=[Depends(require_role(Role.MANAGER))], responses=_COMMON
)

# The one patron id rule (controller/domain/patron_ids.py), in the address and in a body alike. The
# routes take the id with Starlette's `path` converter, so an id with a `/` (which the import
# accepts) has an address: /members/A/1/block, or /members/A%2F1/block.
_PATRON_ID_RULES = dict(min_length=1, max_length=PATRON_ID_MAX_LENGTH, pattern=PATRON_ID_PATTERN)
PatronId = Annotated[
    str,
    Path(
        **_PATRON_ID_RULES,
        description=f"The library system's patron id; {PATRON_ID_RULE}. "
        "A `/` in it may be sent as is or as %2F.",
    ),
    AfterValidator(checked_patron_id),
]
PatronIdText = Annotated[
    str,
    Field(
        **_PATRON_ID_RULES,
        description=f"The library system's patron id; {PATRON_ID_RULE}.",
        examples=["P00042"],
    ),
    AfterValidator(checked_patron_id),
]
_TEXT = r"^[^\x00-\x1f\x7f]*$"  # no control characters (the rest: PlainText)


class MemberOut(BaseModel):
    patron_id: str
    display_name: str
    category: Category
    card_hints: list[str] = Field(description="Last 4 digits of each card, e.g. '…1234'.")
    valid_until: date
    openplus_registered_on: date | None
    adult: bool = Field(description="18 or over today (no birth date is kept or shown).")
    entry_blocked: bool
    blocked_until: date | None = Field(description="Last blocked day; null = until unblocked.")
    block_note: str | None = Field(
        description="Why the entry block was set (a manager's "
        "note, shown to security); null when there is none."
    )
    guardian_consent: bool = Field(
        description="A guardian consented: a minor may use Open+ "
        "where the library system's rules allow minors."
    )
    more_time: bool = Field(description="Longer unlock and held-open times at the door.")
    has_pin: bool
    pin_locked_until: TimePoint | None = Field(description="Locked after too many wrong PINs.")
    status: list[str] = Field(
        description="Why the door would refuse, if it would.", examples=[["blocked", "no PIN"]]
    )

    @classmethod
    def of(cls, member: Member, today: date, now, lms: bool = False) -> MemberOut:
        """`lms`: the branch checks PINs with its library system (see Member.status)."""
        locked = member.locked_until if member.locked_until and member.locked_until > now else None
        status_ = [status.value for status in member.status(today, now, lms=lms)]
        return cls(
            patron_id=member.patron_id,
            display_name=member.display_name,
            category=member.category,
            card_hints=[card_hint(c) for c in member.cards],
            valid_until=member.valid_until,
            openplus_registered_on=member.openplus_registered_on,
            adult=member.is_adult_on(today),
            entry_blocked=member.entry_blocked,
            blocked_until=member.blocked_until,
            block_note=member.block_note if member.entry_blocked else None,
            guardian_consent=member.guardian_consent,
            more_time=member.more_time,
            has_pin=member.has_pin,
            pin_locked_until=TimePoint.maybe(locked),
            status=status_,
        )


class MemberPage(BaseModel):
    on_list: int = Field(description="How many entries the whole list has.")
    limit: int
    offset: int
    items: list[MemberOut]


class MemberIn(BaseModel):
    patron_id: PatronIdText
    display_name: PlainText = Field(min_length=1, max_length=100, pattern=_TEXT, examples=["A.B."])
    cards: list[str] = Field(
        min_length=1,
        max_length=10,
        examples=[["04012345678901"]],
        description="Card numbers: " + "8 to 14 digits; spaces, dashes, dots ignored.",
    )
    birth_date: date | None = Field(
        None,
        ge=EARLIEST_BIRTH_DATE,
        description=(
            f"Give this or `adult`; only the 18th birthday is kept. From "
            f"{EARLIEST_BIRTH_DATE.isoformat()}, and not after today."
        ),
    )
    adult: bool | None = Field(None, description="true: 18 or over; false: known to be under 18.")
    registered: bool = Field(True, description="Has accepted the Open+ rules.")
    registered_on: date | None = Field(None, description="Default: today (when registered).")
    valid_until: date | None = Field(None, description="Default: a year from today.")
    category: Category = Category.MEMBER
    guardian_consent: bool = Field(False, description="A guardian consented (for a minor).")
    more_time: bool = Field(False, description="Longer unlock and held-open times at the door.")
    pin: str | None = Field(
        None,
        max_length=16,
        description="4-6 digits; never shown again.",
        json_schema_extra={"writeOnly": True, "format": "password"},
    )

    @model_validator(mode="after")
    def _one_age_source(self) -> MemberIn:
        if (self.birth_date is None) == (self.adult is None):
            raise ValueError("give either birth_date or adult, not both or neither")
        return self


class BlockIn(BaseModel):
    until: OptionalDay = Field(
        None,
        examples=["2026-12-31"],
        description=(f"Last blocked day, YYYY-MM-DD, today or later; null: until unblocked. {YEARS}"),
    )
    note: PlainText | None = Field(
        None,
        min_length=1,
        max_length=BLOCK_NOTE_MAX_LENGTH,
        pattern=_TEXT,
        examples=["Damaged the self-service kiosk on 2026-11-20"],
        description="Why the block is set: shown to security and managers, never in the "
        "audit log's detail. One line of plain text.",
    )


class FlagsIn(BaseModel):
    guardian_consent: bool | None = Field(None, description="null: unchanged.")
    more_time: bool | None = Field(None, description="null: unchanged.")

    @model_validator(mode="after")
    def _something_to_set(self) -> FlagsIn:
        if self.guardian_consent is None and self.more_time is None:
            raise ValueError("give guardian_consent, more_time or both")
        return self


class PinIn(BaseModel):
    pin: str = Field(
        max_length=16, json_schema_extra={"writeOnly": True, "format": "password"}, description="4-6 digits."
    )


class ImportOut(BaseModel):
    dry_run: bool = Field(description="true: counts only, nothing was changed.")
    added: int
    updated: int
    unchanged: int
    removed: int


def _show(services: Services, conn: Conn, patron_id: str) -> MemberOut:
    member = services.runtime.members(conn).get(patron_id)
    if member is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"patron {patron_id} is not on the list")
    now = services.runtime.clock()
    return MemberOut.of(member, local_date(now), now, services.runtime.settings.lms.enabled)


@router.get("", response_model=MemberPage, summary="List or search members")
def list_members(
    services: Services,
    conn: Conn,
    q: Annotated[
        str, Query(max_length=100, description="Part of a patron id or name, or a whole card number.")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> MemberPage:
    store = services.runtime.members(conn)
    now = services.runtime.clock()
    lms = services.runtime.settings.lms.enabled
    items = [MemberOut.of(m, local_date(now), now, lms) for m in store.search(q, limit, offset)]
    return MemberPage(on_list=store.count(), limit=limit, offset=offset, items=items)


@router.get(
    "/{patron_id:path}", response_model=MemberOut, responses=error_responses(404), summary="One member"
)
def get_member(patron_id: PatronId, services: Services, conn: Conn) -> MemberOut:
    return _show(services, conn, patron_id)


@router.post(
    "",
    response_model=MemberOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409, 413),
    summary="Add a member or staff card",
)
def add_member(body: MemberIn, services: Services, conn: Conn, admin: Members, actor: Actor) -> MemberOut:
    today = local_date(services.runtime.clock())
    birth_problem = body.birth_date and birth_date_problem(body.birth_date, today)
    if birth_problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, birth_problem)
    cards = tuple(normalise_card(card) for card in body.cards)
    twice = card_listed_twice(cards)
    if twice:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"cards: {twice}")
    row = MemberRow(
        patron_id=body.patron_id,
        display_name=body.display_name,
        cards=cards,
        adult_on=adult_on(body.birth_date) if body.birth_date else (today if body.adult else NEVER),
        valid_until=body.valid_until or default_valid_until(today),
        openplus_registered_on=(body.registered_on or today) if body.registered else None,
        category=body.category,
        guardian_consent=body.guardian_consent,
        more_time=body.more_time,
        pin=validate_pin(body.pin) if body.pin is not None else None,
    )
    admin.add(row, actor)
    return _show(services, conn, body.patron_id)


@router.post(
    "/{patron_id:path}/block",
    response_model=MemberOut,
    responses=error_responses(404, 413),
    summary="Block entry (until a day, or until unblocked)",
)
def block_member(
    patron_id: PatronId,
    services: Services,
    conn: Conn,
    admin: Members,
    actor: Actor,
    body: BlockIn | None = None,
) -> MemberOut:
    _show(services, conn, patron_id)
    until = body.until if body else None
    problem = past_day_problem("until", until, local_date(services.runtime.clock()))
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    admin.block(patron_id, actor, until, body.note if body else None)
    return _show(services, conn, patron_id)


@router.patch(
    "/{patron_id:path}",
    response_model=MemberOut,
    responses=error_responses(404, 413),
    summary="Set a guardian's consent and/or more time at the door",
)
def set_member_flags(
    patron_id: PatronId, body: FlagsIn, services: Services, conn: Conn, admin: Members, actor: Actor
) -> MemberOut:
    _show(services, conn, patron_id)
    admin.set_flags(patron_id, actor, guardian_consent=body.guardian_consent, more_time=body.more_time)
    return _show(services, conn, patron_id)


@router.post(
    "/{patron_id:path}/unblock",
    response_model=MemberOut,
    responses=error_responses(404),
    summary="Lift a block",
)
def unblock_member(
    patron_id: PatronId, services: Services, conn: Conn, admin: Members, actor: Actor
) -> MemberOut:
    _show(services, conn, patron_id)
    admin.unblock(patron_id, actor)
    return _show(services, conn, patron_id)


@router.put(
    "/{patron_id:path}/pin",
    response_model=MemberOut,
    responses=error_responses(404, 413),
    summary="Set a new PIN (also lifts a PIN lockout)",
)
def set_pin(
    patron_id: PatronId, body: PinIn, services: Services, conn: Conn, admin: Members, actor: Actor
) -> MemberOut:
    _show(services, conn, patron_id)
    admin.set_pin(patron_id, validate_pin(body.pin), actor)
    return _show(services, conn, patron_id)


@router.delete(
    "/{patron_id:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    summary="Remove from the list",
)
def remove_member(patron_id: PatronId, services: Services, conn: Conn, admin: Members, actor: Actor) -> None:
    _show(services, conn, patron_id)
    admin.remove(patron_id, actor)


@router.post(
    "/import",
    response_model=ImportOut,
    responses=error_responses(413),
    max_body_size=MAX_IMPORT_BYTES,
    summary="Replace the list from a library-system CSV export (all or nothing)",
)
def import_members(
    file: Annotated[UploadFile, File(description="The CSV export (UTF-8, ; or , separated).")],
    admin: Members,
    actor: Actor,
    dry_run: Annotated[bool, Query(description="Only count what would change.")] = False,
) -> ImportOut:
    counts = admin.import_csv(file.file.read(), actor, dry_run=dry_run)
    return ImportOut(
        dry_run=dry_run,
        added=counts.added,
        updated=counts.updated,
        unchanged=counts.unchanged,
        removed=counts.removed,
    )
