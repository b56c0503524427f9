"""The `[hardware]` section: which pins and readers this door has (BCM numbering).

The defaults match the README's wiring, so the demo runs with no file at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from controller.config.counter import CounterSettings
from controller.config.defaults import DEFAULT_LOCK_ACTIVE_HIGH, DEFAULT_LOCK_PIN
from controller.config.pins import Pin
from controller.config.section import Section

MAX_BAUDRATE = 4_000_000  # the fastest a Pi's UARTs go; readers use 9600 or 115200
Baudrate = Annotated[int, Field(ge=50, le=MAX_BAUDRATE)]


class _Reader(Section):
    name: str = Field(min_length=1, description="Names the reader in events.")


class Rdm6300Reader(_Reader):
    type: Literal["rdm6300"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/serial0.")
    baudrate: Baudrate = 9600


class BarcodeReader(_Reader):
    type: Literal["barcode"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/ttyACM0.")
    baudrate: Baudrate = 9600


class KeyboardWedgeReader(_Reader):
    type: Literal["keyboard_wedge"]
    device: str = Field(min_length=1, description="/dev/input/... path or the device's name.")
    grab: bool = True


class WiegandReader(_Reader):
    type: Literal["wiegand"]
    d0_pin: Pin
    d1_pin: Pin


class MatrixKeypadReader(_Reader):
    type: Literal["matrix_keypad"]
    row_pins: list[Pin] = Field(min_length=4, max_length=4)
    col_pins: list[Pin] = Field(min_length=3, max_length=4)


class OsdpReader(_Reader):
    type: Literal["osdp"]
    port: str = Field(min_length=1, description="RS-485 serial device, e.g. /dev/ttyUSB0.")
    address: int = Field(0, ge=0, le=126)
    baudrate: Baudrate = 9600
    scbk_file: Path = Field(description="16-byte secure-channel key, mode 0600.")


ReaderSettings = Annotated[
    Rdm6300Reader | BarcodeReader | KeyboardWedgeReader | WiegandReader | MatrixKeypadReader | OsdpReader,
    Field(discriminator="type"),
]


def _default_readers() -> list[ReaderSettings]:
    return [
        Rdm6300Reader(type="rdm6300", name="rfid", port="/dev/serial0"),
        WiegandReader(type="wiegand", name="keypad", d0_pin=23, d1_pin=24),
    ]


class OutputPin(Section):
    pin: Pin
    active_high: bool = True


class IndicatorPins(Section):
    green_pin: Pin = 5
    red_pin: Pin = 6
    buzzer_pin: Pin | None = 13
    active_high: bool = True


class HardwareSettings(Section):
    """Which pins and readers this door has (BCM numbering); the defaults match the README's wiring."""

    lock: OutputPin = OutputPin(pin=DEFAULT_LOCK_PIN, active_high=DEFAULT_LOCK_ACTIVE_HIGH)
    door_contact_pin: Pin = 27
    door_open_when_high: bool = Field(True, description="NC contact to ground with pull-up: open reads high.")
    rex_pin: Pin = 22
    indicator: IndicatorPins = IndicatorPins()
    lights: OutputPin | None = None
    alarm: OutputPin | None = None
    door_operator: OutputPin | None = Field(
        None,
        description="Trigger input of an automatic door operator, pulsed after a grant and "
        "by the open button (door.operator_pulse_seconds); absent: no operator.",
    )
    open_button_pin: Pin | None = Field(
        None,
        description="An 'open' push button inside (to ground, pull-up): starts the door "
        "operator and lets people out like the exit button; absent: none.",
    )
    help_button_pin: Pin | None = Field(
        None,
        description="A help push button at the entrance (to ground, pull-up): logs "
        "help_requested and tells the member help was called; never unlocks. Absent: none.",
    )
    counter: CounterSettings | None = None  # [hardware.counter]: the people counter's two beams
    readers: list[ReaderSettings] = Field(default_factory=_default_readers, min_length=1)
