"""The offline policy: who may enter while the library system does not answer in time.

Pure and small: the caller looks up the PIN cache (`LmsPinCache.check`) and the local list's
own PIN hash (`PinHasher.verify`) and passes the answers; this module only decides, and says
which path decided, for the event (entries made offline must stand out).

The choices, per branch (`lms.offline_policy`):

- `deny`: nobody, `lms_unavailable`, whatever the cache or the local list say. For branches
  that want the LMS's word on every entry.
- `cached`: a card whose PIN the LMS accepted within `lms.cache_days`, with that PIN, is
  granted; another PIN for that card is `wrong_pin` (it counts toward the lockout as any wrong
  PIN does: guessing offline must cost the same). Nothing cached, or only an older yes:
  `lms_unavailable`. The local list's expiry, registration and age are not read here: the LMS
  checked those when it said yes, and in LMS mode the local list may not carry them.
- `allow-registered`: as `cached`, and also anyone the local list registers for Open+ today,
  adult by its `adult_on`, not expired by its `valid_until`, whose PIN matches the local
  list's own PIN hash (staff-set PINs, or a list imported with PINs). Their cached PIN counts
  too, but only within cache_days as under `cached`.

Decided on purpose:

- **One freshness rule for every policy.** The cache keeps a yes for `cache_days` and purges
  it after (the brief's purge, and the config's own words: "how long an accepted PIN is
  trusted offline"). A cached PIN "of any age" for registered members would keep a PIN the
  patron has since changed at the LMS (say, after losing the card with its PIN written on it)
  opening the door during every outage, and keep hashes of patrons who stopped coming; the
  local list's own PIN hash covers members the branch vouches for without that limit.
- **A local entry block always holds, but only after the PIN.** As in `decide`, a found card
  tells nothing about its owner without the PIN: a block is `blocked` once a source proves the
  PIN, `wrong_pin` when one refutes it, else `lms_unavailable`.
- **Staff cards are not this module's**: the local list decides them (`decide`) without the LMS.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import NamedTuple

from controller.config.lms import OfflinePolicy
from controller.domain.decision import Reason
from controller.domain.members import Member


class DecidedBy(StrEnum):
    """Which path made a decision on a branch linked to its library system (the access
    event records it, so entries made while the LMS was out of reach stand out)."""

    LMS = "lms"  # the LMS answered in time; the eligibility rules read its answer
    CACHE = "offline_cache"  # the LMS's recent yes, kept hashed, proved or refuted the PIN
    LOCAL = "offline_local"  # the local list: its entry block, or its own PIN hash
    DENY = "offline_deny"  # nothing the policy may admit on (or the policy is deny)

    @property
    def offline(self) -> bool:
        """Decided without the LMS: the entries page marks such entries."""
        return self is not DecidedBy.LMS


class OfflineVerdict(NamedTuple):
    reason: Reason
    path: DecidedBy


def offline_decision(
    policy: OfflinePolicy,
    cached: bool | None,
    local: Member | None,
    today: date,
    *,
    local_pin_matches: bool | None,
) -> Reason:
    """The reason alone (see offline_verdict for which path decided)."""
    return offline_verdict(policy, cached, local, today, local_pin_matches=local_pin_matches).reason


def offline_verdict(
    policy: OfflinePolicy,
    cached: bool | None,
    local: Member | None,
    today: date,
    *,
    local_pin_matches: bool | None,
) -> OfflineVerdict:
    """Grant or the one reason to refuse while the LMS does not answer, and which path decided.

    `cached`: LmsPinCache.check for the card and PIN (None: nothing fresh cached).
    `local`: the card's entry in the local list, if any. `local_pin_matches`: whether the PIN
    matches that entry's own PIN hash, None when it has none (or there is no entry).
    `today`: the branch's local date.
    """
    if policy == "deny":
        return OfflineVerdict(Reason.LMS_UNAVAILABLE, DecidedBy.DENY)
    if policy not in ("cached", "allow-registered"):
        raise ValueError(f"unknown offline policy {policy!r}: expected deny, cached or allow-registered")
    use_local = policy == "allow-registered" and local is not None
    local_says = local_pin_matches if use_local else None
    if local is not None and local.is_blocked_on(today):
        if cached is True or local_says is True:
            return OfflineVerdict(Reason.BLOCKED, DecidedBy.LOCAL)
        if cached is False or local_says is False:
            return OfflineVerdict(Reason.WRONG_PIN, _refuted_by(cached))
        return OfflineVerdict(Reason.LMS_UNAVAILABLE, DecidedBy.DENY)
    if cached is True:
        return OfflineVerdict(Reason.GRANTED, DecidedBy.CACHE)
    if local is not None and local_says is not None and _vouched_for(local, today):
        reason = Reason.GRANTED if local_says else Reason.WRONG_PIN
        return OfflineVerdict(reason, DecidedBy.LOCAL)
    if cached is False and local_says is not True:
        return OfflineVerdict(Reason.WRONG_PIN, DecidedBy.CACHE)
    return OfflineVerdict(Reason.LMS_UNAVAILABLE, DecidedBy.DENY)


def _vouched_for(local: Member, today: date) -> bool:
    """What the local list alone must say to admit without the LMS (allow-registered)."""
    return local.is_registered_on(today) and local.is_adult_on(today) and local.valid_until >= today


def _refuted_by(cached: bool | None) -> DecidedBy:
    return DecidedBy.CACHE if cached is False else DecidedBy.LOCAL
