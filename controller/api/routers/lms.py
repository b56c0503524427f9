"""GET /api/v1/lms (role security): the branch's library-system link, read-only.

Whether the door checks cards and PINs with the library system (SIP2), what it does when the
system does not answer (the offline policy), the eligibility rules, the link's last change
(from its `lms_link` events) and how many entries were decided offline today. All of it is
set in the config file ([lms], [eligibility]); the Today page shows the same.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from controller.api.deps import Conn, Services, require_role
from controller.api.schemas import TimePoint, error_responses
from controller.config.lms import EligibilitySettings, OfflinePolicy
from controller.services.lms_overview import LinkChange, lms_overview
from controller.services.users import Role

router = APIRouter(
    prefix="/lms",
    tags=["lms"],
    dependencies=[Depends(require_role(Role.SECURITY))],
    responses=error_responses(401, 403),
)


class EligibilityOut(BaseModel):
    """Who the library system's answer lets in (config section [eligibility], or the fleet's
    last `rules` command)."""

    min_age: int = Field(description="Minimum age for Open+ (13-21).", examples=[18])
    open_plus_patron_classes: list[str] = Field(
        description="Patron classes (SIP2 PC) that mean 'registered for Open+'; empty: the "
        "local list's registration decides."
    )
    barring_status_positions: list[int] = Field(
        description="Patron-status positions (0-13) that refuse entry.", examples=[[6, 10]]
    )
    card_lost_bars: bool = Field(description="A card the LMS reports lost (position 4) is refused.")
    check_expiry: bool = Field(description="An expiry date (PA) in the past is refused.")
    minors_need_consent: bool = Field(
        description="Under 18 only with a guardian's consent in the local list."
    )

    @classmethod
    def of(cls, rules: EligibilitySettings) -> EligibilityOut:
        return cls(
            min_age=rules.min_age,
            open_plus_patron_classes=list(rules.open_plus_patron_classes),
            barring_status_positions=sorted(rules.barring_status_positions),
            card_lost_bars=rules.card_lost_bars,
            check_expiry=rules.check_expiry,
            minors_need_consent=rules.minors_need_consent,
        )


class LinkChangeOut(BaseModel):
    """The link's last change, from its last `lms_link` event."""

    state: Literal["up", "down"] = Field(description="down: lost (`lms_lost`); up: back (`lms_back`).")
    at: TimePoint
    detail: str | None = Field(
        description="Why it was lost, as the connection said; null when back.", examples=["connect timed out"]
    )

    @classmethod
    def of(cls, change: LinkChange) -> LinkChangeOut:
        return cls(state="up" if change.up else "down", at=TimePoint.of(change.at), detail=change.detail)


class LmsOut(BaseModel):
    enabled: bool = Field(description="The door checks cards and PINs with the library system.")
    offline_policy: OfflinePolicy = Field(
        description="While the library system does not answer in time: `deny` nobody; `cached` "
        "a card and PIN it accepted within `cache_days`; `allow-registered` also members the "
        "local list registers, with that list's PIN."
    )
    cache_days: int = Field(description="How long an accepted PIN is trusted offline.")
    eligibility: EligibilityOut
    rules_from_fleet: int | None = Field(
        None,
        description="The version of the fleet's `rules` command that set `eligibility`; null: "
        "the config file's [eligibility].",
    )
    last_link_change: LinkChangeOut | None = Field(
        description="Null when the link never went down (or the branch never had one)."
    )
    offline_entries_today: int = Field(
        description="Access events decided without the library system since local midnight."
    )


@router.get(
    "",
    response_model=LmsOut,
    summary="The library-system link: settings, last link change, entries decided offline today",
)
def lms_status(services: Services, conn: Conn) -> LmsOut:
    runtime = services.runtime
    overview = lms_overview(runtime.settings, conn, runtime.clock())
    change = overview.last_change
    return LmsOut(
        enabled=overview.enabled,
        offline_policy=overview.offline_policy,
        cache_days=overview.cache_days,
        eligibility=EligibilityOut.of(overview.eligibility),
        rules_from_fleet=overview.rules_from_fleet,
        last_link_change=LinkChangeOut.of(change) if change is not None else None,
        offline_entries_today=overview.offline_today,
    )
