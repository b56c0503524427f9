"""The `[lms]` and `[eligibility]` sections: the library system link and who it lets in.

With `lms.enabled = false` (the default) the door works from the local list alone, as it
always has. With it on, the library management system checks every card and PIN over SIP2,
the branch's eligibility rules read its answer, and the offline policy decides while the
LMS does not answer in time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from controller.config.section import Section
from controller.domain.eligibility import MIN_AGE_RANGE, STATUS_POSITIONS, EligibilityRules

OfflinePolicy = Literal["deny", "cached", "allow-registered"]
Sip2Check = Literal["patron_status", "patron_information"]
Charset = Literal["cp850", "latin-1", "utf-8"]
Seconds = Annotated[float, Field(gt=0, le=30, allow_inf_nan=False)]


class LmsSettings(Section):
    """How to reach the library system over SIP2, and what to do when it does not answer."""

    enabled: bool = Field(False, description="Check cards and PINs with the library system.")
    host: str = Field("127.0.0.1", min_length=1, max_length=253)
    port: int = Field(6001, ge=1, le=65535)
    tls: bool = Field(False, description="Wrap the connection in TLS.")
    ca_file: Path | None = Field(None, description="CA bundle for TLS (default: the system's).")
    login_user: str = Field("", max_length=64, description="SIP2 login (93); empty: no login.")
    login_password: str = Field("", max_length=64, repr=False)
    location: str = Field("", max_length=64, description="Location code sent with the login (CP).")
    institution: str = Field("", max_length=64, description="Institution id (AO).")
    terminal_password: str = Field(
        "", max_length=64, repr=False, description="Terminal password (AC) on patron checks."
    )
    check: Sip2Check = Field(
        "patron_status", description="Patron Status (23/24) or Patron Information (63/64)."
    )
    charset: Charset = "cp850"
    connect_timeout_seconds: Seconds = 2.0
    reply_timeout_seconds: Seconds = Field(
        2.0, description="The longest a member waits for the LMS before the offline policy decides."
    )
    connections: int = Field(2, ge=1, le=8, description="Kept-alive, logged-in connections.")
    heartbeat_seconds: float = Field(
        60.0, ge=5, le=3600, allow_inf_nan=False, description="SC status (99) on idle connections."
    )
    offline_policy: OfflinePolicy = Field(
        "cached",
        description="deny: nobody; cached: a card and PIN the LMS accepted within "
        "cache_days; allow-registered: anyone registered on the local list with a cached PIN.",
    )
    cache_days: int = Field(7, ge=1, le=90, description="How long an accepted PIN is trusted offline.")

    @model_validator(mode="after")
    def _tls_ca_only_with_tls(self) -> LmsSettings:
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file is set but tls is false")
        if bool(self.login_user) != bool(self.login_password):
            raise ValueError("login_user and login_password go together")
        return self


class EligibilitySettings(Section):
    """Who may enter, read from the LMS answer and the local list (see domain/eligibility)."""

    min_age: int = Field(18, ge=MIN_AGE_RANGE[0], le=MIN_AGE_RANGE[1], description="Minimum age for Open+.")
    open_plus_patron_classes: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list,
        max_length=64,
        description="Patron classes (PC) that mean 'registered for Open+'; empty: the local "
        "list's registration decides.",
    )
    barring_status_positions: list[Annotated[int, Field(ge=0, lt=STATUS_POSITIONS)]] = Field(
        default_factory=list,
        max_length=STATUS_POSITIONS,
        description="Patron-status positions (0-13) that bar entry; a borrowing block alone "
        "does not by default.",
    )
    card_lost_bars: bool = Field(True, description="Refuse a card the LMS reports lost (position 4).")
    check_expiry: bool = Field(True, description="Refuse when the LMS sends an expiry date (PA) in the past.")
    minors_need_consent: bool = Field(
        True, description="Under 18 (and at least min_age) only with a guardian's consent in the local list."
    )

    def rules(self) -> EligibilityRules:
        """The domain's rules object the decision reads."""
        return EligibilityRules(
            min_age=self.min_age,
            open_plus_classes=frozenset(self.open_plus_patron_classes),
            barring_positions=frozenset(self.barring_status_positions),
            card_lost_bars=self.card_lost_bars,
            check_expiry=self.check_expiry,
            minors_need_consent=self.minors_need_consent,
        )
