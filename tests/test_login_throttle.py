"""Password guessing is slowed per username and per address, and a right password ends a run of typos."""

from __future__ import annotations

import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from controller.domain.throttle import SWEEP_ABOVE_KEYS, FailureThrottle
from controller.services.login_throttle import (
    ADDRESS_FAILURES,
    FIRST_PAUSE,
    MAX_PAUSE,
    USERNAME_FAILURES,
    LoginThrottle,
    SignInPaused,
)
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from tests.api.api_support import CHEAP_PASSWORDS, PASSWORD

T0 = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)


def test_pause_starts_at_the_threshold_and_doubles_up_to_the_cap() -> None:
    throttle = FailureThrottle(3, timedelta(hours=1), timedelta(seconds=10), timedelta(seconds=35))
    now = T0
    pauses = []
    for _ in range(6):
        throttle.record_failure("k", now)
        until = throttle.paused_until("k", now)
        pauses.append((until - now).total_seconds() if until else 0)
        now += timedelta(minutes=1)
    assert pauses == [0, 0, 10, 20, 35, 35]


def test_clear_forgets_a_key_and_only_that_key() -> None:
    throttle = FailureThrottle(1, timedelta(hours=1), timedelta(seconds=10), timedelta(seconds=10))
    throttle.record_failure("a", T0)
    throttle.record_failure("b", T0)
    throttle.clear("a")
    assert throttle.paused_until("a", T0) is None
    assert throttle.paused_until("b", T0) == T0 + timedelta(seconds=10)


def test_many_quiet_keys_are_swept_but_a_paused_one_is_kept() -> None:
    window, pause = timedelta(minutes=15), timedelta(minutes=1)
    throttle = FailureThrottle(1, window, pause, pause)
    for n in range(SWEEP_ABOVE_KEYS + 1):
        throttle.record_failure(f"old{n}", T0)
    later = T0 + window + pause + timedelta(seconds=1)
    throttle.record_failure("attacker", later)  # sweeps every quiet key
    assert len(throttle._failures) == 1
    assert throttle.paused_until("attacker", later) == later + pause


def test_a_username_pauses_after_its_free_tries_from_any_address() -> None:
    throttle = LoginThrottle()
    for n in range(USERNAME_FAILURES - 1):
        assert throttle.failed("Manny", f"10.0.0.{n}", T0) is None
    assert throttle.failed(" manny ", "10.0.0.99", T0) == T0 + FIRST_PAUSE  # same name, any case
    with pytest.raises(SignInPaused) as paused:
        throttle.check("MANNY", "192.168.1.5", T0 + timedelta(seconds=29))
    assert paused.value.retry_after(T0 + timedelta(seconds=29)) == 1
    throttle.check("sec", "192.168.1.5", T0)  # another name from another address: not held
    throttle.check("manny", "192.168.1.5", T0 + FIRST_PAUSE)  # the pause is over


def test_an_address_pauses_after_trying_many_usernames() -> None:
    throttle = LoginThrottle()
    for n in range(ADDRESS_FAILURES):
        throttle.failed(f"user{n}", "10.0.0.7", T0)
    with pytest.raises(SignInPaused):
        throttle.check("admin", "10.0.0.7", T0)
    throttle.check("admin", "10.0.0.8", T0)


def test_a_right_password_ends_the_usernames_run_but_not_the_addresses() -> None:
    throttle = LoginThrottle(username_failures=2, address_failures=3)
    throttle.failed("manny", "10.0.0.7", T0)
    throttle.succeeded("manny")
    assert throttle.failed("manny", "10.0.0.7", T0) is None  # the name starts again at one
    assert throttle.failed("sec", "10.0.0.7", T0) == T0 + FIRST_PAUSE  # the address is at three


def test_a_reserved_attempt_counts_until_settled_and_a_right_one_is_given_back() -> None:
    throttle = LoginThrottle(username_failures=5, address_failures=2)
    first = throttle.reserve("manny", "10.0.0.7", T0)
    second = throttle.reserve("sec", "10.0.0.7", T0)  # counted before either password is known
    assert second.pause_if_wrong == T0 + FIRST_PAUSE
    with pytest.raises(SignInPaused):
        throttle.reserve("admin", "10.0.0.7", T0)  # the pending ones already fill the limit
    throttle.settle(first, right=True)
    throttle.cancel(second)  # not checked at all (busy): not counted either
    throttle.reserve("admin", "10.0.0.7", T0)


def test_many_parallel_guesses_get_the_longest_pause_and_no_more() -> None:
    throttle = LoginThrottle()
    pauses = [throttle.failed("manny", "10.0.0.7", T0) for _ in range(USERNAME_FAILURES + 12)]
    assert pauses[USERNAME_FAILURES - 1] == T0 + FIRST_PAUSE
    assert pauses[-1] == T0 + MAX_PAUSE


class GatedPasswords(Passwords):
    """Real (cheap) argon2, but every check waits at a gate until the test opens it, so all
    concurrent sign-ins are inside the password check at once: the worst case for a throttle
    that looks before hashing and counts after."""

    def __init__(self, expected: int) -> None:
        super().__init__(CHEAP_PASSWORDS)
        self._expected = expected
        self._settled = 0  # threads waiting at the gate or already answered
        self._changed = threading.Condition()
        self.gate = threading.Event()

    def settle(self) -> None:
        with self._changed:
            self._settled += 1
            self._changed.notify_all()

    def wait_until_all_settled(self) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self._settled >= self._expected, timeout=30)

    def verify(self, stored: str, password: str) -> bool:
        self.settle()
        assert self.gate.wait(timeout=30)
        return super().verify(stored, password)

    def burn(self, password: str) -> None:
        self.settle()
        assert self.gate.wait(timeout=30)
        super().burn(password)


@pytest.mark.parametrize(
    ("names", "limit"),
    [
        ([f"ghost{n}" for n in range(40)], ADDRESS_FAILURES),  # many names from one address
        (["manny"] * 40, USERNAME_FAILURES),  # one name
    ],
)
def test_concurrent_wrong_sign_ins_from_one_address_cannot_pass_the_limit(
    runtime: Runtime, names: list[str], limit: int
) -> None:
    passwords = GatedPasswords(expected=len(names))
    with closing(runtime.connection()) as conn:
        user_admin(runtime, conn, passwords).create("manny", PASSWORD, ["manager"], "test:setup")
    throttle = LoginThrottle()
    outcomes: list[str] = []

    def attempt(name: str) -> None:
        with closing(runtime.connection()) as conn:
            try:
                user = user_admin(runtime, conn, passwords).check_sign_in(
                    name, "a wrong password", "10.0.0.7", throttle, via="api"
                )
                outcomes.append("401" if user is None else "200")
            except SignInPaused as paused:
                assert paused.retry_after(runtime.clock()) >= 1
                outcomes.append("429")
                passwords.settle()  # answered without reaching the password check

    threads = [threading.Thread(target=attempt, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    passwords.wait_until_all_settled()  # every thread is at the gate or already refused
    passwords.gate.set()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == sorted(["401"] * limit + ["429"] * (len(names) - limit))
