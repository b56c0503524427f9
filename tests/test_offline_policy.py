"""The offline policy: each policy in each situation while the library system is silent (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from controller.domain.decision import Reason
from controller.domain.members import NEVER, Category, Member
from controller.services.offline_policy import DecidedBy, offline_decision, offline_verdict

TODAY = date(2026, 12, 1)
G, W, U, B = Reason.GRANTED, Reason.WRONG_PIN, Reason.LMS_UNAVAILABLE, Reason.BLOCKED
CACHE, LOCAL, DENY = DecidedBy.CACHE, DecidedBy.LOCAL, DecidedBy.DENY


def local(**changes) -> Member:
    """A registered adult on the local list, not blocked, valid for years."""
    member = Member(
        id=1,
        patron_id="P1",
        display_name="Demo",
        cards=("29990000000001",),
        adult_on=date(1998, 5, 17),
        valid_until=date(2030, 1, 1),
        openplus_registered_on=date(2020, 1, 1),
        entry_blocked=False,
        blocked_until=None,
        category=Category.MEMBER,
    )
    return replace(member, **changes)


REGISTERED = local()
BLOCKED = local(entry_blocked=True)
BLOCK_ENDED = local(entry_blocked=True, blocked_until=date(2026, 11, 30))
NOT_REGISTERED = local(openplus_registered_on=None)
REGISTERS_TOMORROW = local(openplus_registered_on=date(2026, 12, 2))
MINOR = local(adult_on=NEVER)
EXPIRED_LOCALLY = local(valid_until=date(2026, 11, 30))

# (local entry, cached, local PIN matches) -> (cached policy, allow-registered policy)
SITUATIONS = [
    # Not on the local list: the cache alone, the same under both.
    ("no entry, fresh match", None, True, None, (G, CACHE), (G, CACHE)),
    ("no entry, cached other PIN", None, False, None, (W, CACHE), (W, CACHE)),
    ("no entry, nothing cached", None, None, None, (U, DENY), (U, DENY)),
    # Registered on the local list.
    ("registered, fresh match", REGISTERED, True, None, (G, CACHE), (G, CACHE)),
    ("registered, cached other PIN", REGISTERED, False, None, (W, CACHE), (W, CACHE)),
    ("registered, nothing cached", REGISTERED, None, None, (U, DENY), (U, DENY)),
    ("registered, local PIN right", REGISTERED, None, True, (U, DENY), (G, LOCAL)),
    ("registered, local PIN wrong", REGISTERED, None, False, (U, DENY), (W, LOCAL)),
    ("registered, cache wrong, local right", REGISTERED, False, True, (W, CACHE), (G, LOCAL)),
    ("registered, cache right, local wrong", REGISTERED, True, False, (G, CACHE), (G, CACHE)),
    # The local list alone does not vouch for these: only the cache can.
    ("not registered, local PIN right", NOT_REGISTERED, None, True, (U, DENY), (U, DENY)),
    ("not registered, local PIN wrong", NOT_REGISTERED, None, False, (U, DENY), (U, DENY)),
    ("not registered, fresh match", NOT_REGISTERED, True, None, (G, CACHE), (G, CACHE)),
    ("registers tomorrow, local PIN right", REGISTERS_TOMORROW, None, True, (U, DENY), (U, DENY)),
    ("minor, local PIN right", MINOR, None, True, (U, DENY), (U, DENY)),
    ("expired locally, local PIN right", EXPIRED_LOCALLY, None, True, (U, DENY), (U, DENY)),
    ("expired locally, fresh match", EXPIRED_LOCALLY, True, None, (G, CACHE), (G, CACHE)),
    ("not registered, cache wrong, local right", NOT_REGISTERED, False, True, (W, CACHE), (U, DENY)),
    # A local entry block holds, once the PIN is proven; before, it tells nothing.
    ("blocked, fresh match", BLOCKED, True, None, (B, LOCAL), (B, LOCAL)),
    ("blocked, cached other PIN", BLOCKED, False, None, (W, CACHE), (W, CACHE)),
    ("blocked, nothing cached", BLOCKED, None, None, (U, DENY), (U, DENY)),
    ("blocked, local PIN right", BLOCKED, None, True, (U, DENY), (B, LOCAL)),
    ("blocked, local PIN wrong", BLOCKED, None, False, (U, DENY), (W, LOCAL)),
    ("block ended yesterday, fresh match", BLOCK_ENDED, True, None, (G, CACHE), (G, CACHE)),
]


@pytest.mark.parametrize(
    ("policy", "local_entry", "cached", "local_pin", "expected"),
    [
        pytest.param("cached", entry, cached, local_pin, expected, id=f"{name} [cached]")
        for name, entry, cached, local_pin, expected, _ in SITUATIONS
    ]
    + [
        pytest.param("allow-registered", entry, cached, local_pin, expected, id=f"{name} [allow-registered]")
        for name, entry, cached, local_pin, _, expected in SITUATIONS
    ],
)
def test_cached_and_allow_registered(policy, local_entry, cached, local_pin, expected):
    verdict = offline_verdict(policy, cached, local_entry, TODAY, local_pin_matches=local_pin)
    assert (verdict.reason, verdict.path) == expected
    assert offline_decision(policy, cached, local_entry, TODAY, local_pin_matches=local_pin) is expected[0]


@pytest.mark.parametrize(
    ("name", "local_entry", "cached", "local_pin"),
    [situation[:4] for situation in SITUATIONS],
    ids=[situation[0] for situation in SITUATIONS],
)
def test_deny_refuses_everyone_whatever_is_known(name, local_entry, cached, local_pin):
    verdict = offline_verdict("deny", cached, local_entry, TODAY, local_pin_matches=local_pin)
    assert verdict == (Reason.LMS_UNAVAILABLE, DecidedBy.DENY)


def test_the_paths_name_the_values_the_event_records():
    assert {path.value for path in DecidedBy} == {"lms", "offline_cache", "offline_local", "offline_deny"}
    assert [path.offline for path in DecidedBy] == [False, True, True, True]


def test_an_unknown_policy_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown offline policy 'open'"):
        offline_decision("open", True, None, TODAY, local_pin_matches=None)  # type: ignore[arg-type]
