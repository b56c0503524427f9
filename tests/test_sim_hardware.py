"""The simulator's mock pins: what they remember must not grow with every entry."""

from __future__ import annotations

import threading

from controller.config.settings import parse_settings
from controller.sim.hardware import KEYPAD_D0, PIN_HISTORY, SimulatedHardware


def test_a_simulated_pin_keeps_a_bounded_history_of_its_levels(tmp_path):
    """gpiozero's MockPin keeps every level change; a simulator that runs for days (or
    bench/memory.py's 10,000 entries) would grow without end, so the simulator's pins keep
    the newest PIN_HISTORY changes."""
    sim = SimulatedHardware.create(parse_settings({"storage": {"data_dir": str(tmp_path)}}, "test"))
    no_wait = threading.Event()
    no_wait.set()  # the gap between keys matters to a driver reading them, not to this test
    try:
        for _ in range(50):
            sim.press_keys("1234#", pause=no_wait)
        d0 = sim.factory.pin(KEYPAD_D0)
        assert len(d0.states) == PIN_HISTORY
        assert [bool(change.state) for change in list(d0.states)[-2:]] == [False, True]  # the newest
    finally:
        sim.close()
