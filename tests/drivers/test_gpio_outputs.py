"""Outputs through mock pins: the relay is locked from the first instant, signals never block."""

from __future__ import annotations

import time

import pytest
from gpiozero import OutputDevice

from drivers.outputs import AlarmPanel, Indicator, Lights, LockRelay, relay_off

RELAY, GREEN, RED, BUZZER, LIGHTS, ALARM = 4, 22, 23, 24, 25, 26
WAIT = 2.0


def level(factory, pin: int) -> bool:
    return bool(factory.pin(pin).state)


# --- lock relay ---------------------------------------------------------------------------


@pytest.mark.parametrize("active_high, locked_level", [(True, False), (False, True)])
def test_relay_is_locked_from_construction(mock_factory, active_high: bool, locked_level: bool) -> None:
    relay = LockRelay(RELAY, active_high=active_high, pin_factory=mock_factory)
    try:
        pin = mock_factory.pin(RELAY)
        assert pin.function == "output"
        assert pin.state == locked_level
        # The pin never passed through the unlocking level while being set up.
        assert all(state.state == locked_level for state in pin.states[1:])
        assert not relay.is_unlocked
    finally:
        relay.close()


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_unlock_and_lock(mock_factory, active_high: bool) -> None:
    relay = LockRelay(RELAY, active_high=active_high, pin_factory=mock_factory)
    try:
        relay.unlock()
        assert level(mock_factory, RELAY) == active_high
        assert relay.is_unlocked
        relay.lock()
        assert level(mock_factory, RELAY) == (not active_high)
        assert not relay.is_unlocked
    finally:
        relay.close()


def test_relay_close_locks_first(mock_factory) -> None:
    relay = LockRelay(RELAY, active_high=True, pin_factory=mock_factory)
    relay.unlock()
    relay.close()
    assert level(mock_factory, RELAY) is False
    relay.close()  # idempotent


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_off_drives_a_left_unlocked_pin_to_locked_and_frees_it(mock_factory, active_high: bool) -> None:
    # A crashed service: the pin was released while at the unlocking level.
    OutputDevice(RELAY, active_high=active_high, initial_value=True, pin_factory=mock_factory).close()
    assert level(mock_factory, RELAY) == active_high

    relay_off(RELAY, active_high=active_high, pin_factory=mock_factory)

    assert level(mock_factory, RELAY) == (not active_high)
    LockRelay(RELAY, active_high=active_high, pin_factory=mock_factory).close()  # pin is free


# --- indicator ------------------------------------------------------------------------------


@pytest.fixture
def indicator(mock_factory):
    device = Indicator(GREEN, RED, BUZZER, pin_factory=mock_factory, signal_s=30, beep_s=0.01)
    yield device
    device.close()


def test_indicator_starts_all_off(indicator, mock_factory) -> None:
    assert [level(mock_factory, p) for p in (GREEN, RED, BUZZER)] == [False, False, False]


def test_indicator_active_low_starts_off_at_high_level(mock_factory) -> None:
    device = Indicator(
        GREEN, RED, BUZZER, leds_active_high=False, buzzer_active_high=False, pin_factory=mock_factory
    )
    try:
        assert [level(mock_factory, p) for p in (GREEN, RED, BUZZER)] == [True, True, True]
    finally:
        device.close()


def test_show_granted_returns_at_once_with_green_on(indicator, mock_factory) -> None:
    started = time.monotonic()
    indicator.show_granted()  # signal_s = 30: a blocking implementation would wait it out
    assert time.monotonic() - started < 10  # a hang guard, far below those 30 s
    assert level(mock_factory, GREEN) is True
    assert level(mock_factory, RED) is False


def test_show_refused_switches_green_off_and_red_on(indicator, mock_factory) -> None:
    indicator.show_granted()
    indicator.show_refused()
    assert level(mock_factory, GREEN) is False
    assert level(mock_factory, RED) is True


def test_timed_signal_ends_by_itself(indicator, mock_factory) -> None:
    indicator.show_granted(seconds=0.05)
    green = mock_factory.pin(GREEN)
    assert green.state is True
    assert green.wait_for_state(False, timeout=WAIT)


def test_beeps_turn_the_buzzer_on_and_off_n_times(indicator, mock_factory) -> None:
    buzzer = mock_factory.pin(BUZZER)
    buzzer.clear_states()
    indicator.beep(times=2)
    assert buzzer.wait_until(lambda: len(buzzer.states) >= 5, timeout=WAIT)
    assert [state.state for state in buzzer.states] == [False, True, False, True, False]


def test_all_off_cuts_running_signals(indicator, mock_factory) -> None:
    indicator.show_waiting()
    indicator.show_refused()
    indicator.all_off()
    assert [level(mock_factory, p) for p in (GREEN, RED, BUZZER)] == [False, False, False]


def test_indicator_without_buzzer_ignores_beeps(mock_factory) -> None:
    device = Indicator(GREEN, RED, pin_factory=mock_factory)
    try:
        device.show_refused(seconds=5)
        assert level(mock_factory, RED) is True
        assert device.buzzer is None
    finally:
        device.close()


# --- lights and alarm -------------------------------------------------------------------------


def test_lights_start_off_and_switch(mock_factory) -> None:
    lights = Lights(LIGHTS, pin_factory=mock_factory)
    try:
        assert level(mock_factory, LIGHTS) is False and not lights.is_on
        lights.on()
        assert level(mock_factory, LIGHTS) is True and lights.is_on
        lights.off()
        assert level(mock_factory, LIGHTS) is False
    finally:
        lights.close()


@pytest.mark.parametrize(
    "initial_armed, active_high, expected_level",
    [(True, True, True), (False, True, False), (True, False, False), (False, False, True)],
)
def test_alarm_panel_initial_state_is_explicit(
    mock_factory, initial_armed: bool, active_high: bool, expected_level: bool
) -> None:
    panel = AlarmPanel(ALARM, initial_armed=initial_armed, active_high=active_high, pin_factory=mock_factory)
    try:
        assert level(mock_factory, ALARM) == expected_level
        assert panel.is_armed == initial_armed
    finally:
        panel.close()


def test_alarm_panel_arm_and_disarm(mock_factory) -> None:
    panel = AlarmPanel(ALARM, initial_armed=True, pin_factory=mock_factory)
    try:
        panel.disarm()
        assert level(mock_factory, ALARM) is False and not panel.is_armed
        panel.arm()
        assert level(mock_factory, ALARM) is True and panel.is_armed
    finally:
        panel.close()


def test_alarm_panel_requires_an_initial_state(mock_factory) -> None:
    with pytest.raises(TypeError):
        AlarmPanel(ALARM, pin_factory=mock_factory)  # type: ignore[call-arg]
