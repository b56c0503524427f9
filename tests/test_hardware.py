"""Building the door's devices from the [hardware] config: every reader type, and clear errors."""

from __future__ import annotations

import os

import pytest
from gpiozero.pins.mock import MockFactory

from controller.config.settings import parse_settings
from controller.door.hardware import HardwareError, build_hardware
from drivers.readers.matrix_keypad import MatrixKeypad
from drivers.readers.rdm6300 import Rdm6300Reader
from drivers.readers.wiegand import WiegandReader


def hardware(**changes):
    return parse_settings({"hardware": changes}, "test.toml").hardware


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.close()
    factory.reset()


def test_configured_devices_are_built_with_the_relay_locked(factory):
    master, slave = os.openpty()
    try:
        config = hardware(
            lock={"pin": 17, "active_high": False},
            lights={"pin": 19},
            readers=[
                {"type": "rdm6300", "name": "rfid", "port": os.ttyname(slave)},
                {"type": "wiegand", "name": "keypad", "d0_pin": 23, "d1_pin": 24},
                {
                    "type": "matrix_keypad",
                    "name": "matrix",
                    "row_pins": [4, 18, 25, 12],
                    "col_pins": [16, 20, 21],
                },
            ],
        )
        built = build_hardware(config, factory)
        try:
            assert [type(r) for r in built.readers] == [Rdm6300Reader, WiegandReader, MatrixKeypad]
            assert factory.pin(17).state == 1  # active-low relay: high is locked
            assert not built.relay.is_unlocked
            assert factory.pin(19).function == "input"  # [hardware.lights] is a building output now
        finally:
            built.relay.unlock()
            built.close()
        assert factory.pin(17).state == 1  # closing locked it first
    finally:
        os.close(master)
        os.close(slave)


def test_a_pin_used_twice_is_a_hardware_error_and_nothing_stays_claimed(factory):
    config = hardware(rex_pin=17)  # the lock relay's pin
    with pytest.raises(HardwareError, match="hardware setup failed"):
        build_hardware(config, factory)
    build_hardware(hardware(), factory).close()  # every pin was released again


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("00" * 16, 0o644, "readable by others"),
        ("00" * 15, 0o600, "must be 16 bytes"),
        ("not hex at all", 0o600, "cannot read the OSDP key"),
    ],
)
def test_osdp_key_file_problems_are_named(factory, tmp_path, content, mode, message):
    key = tmp_path / "scbk.hex"
    key.write_text(content)
    key.chmod(mode)
    config = hardware(readers=[{"type": "osdp", "name": "osdp", "port": "/dev/null", "scbk_file": str(key)}])
    with pytest.raises(HardwareError, match=message):
        build_hardware(config, factory)
