"""Building the door's devices from the [hardware] config: which pins, polarities and readers.

The lights and alarm lines are building outputs now (controller.door.outputs_runner builds
them, [hardware.lights] / [hardware.alarm] included: controller.config.outputs.door_lines).

The pin factory is passed in: gpiozero's default (lgpio on a Pi) for `serve`, a MockFactory for
`simulate`. Everything else is the same code, so the simulator runs the real drivers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpiozero.pins import Factory

from controller.config.counter import CounterSettings
from controller.config.hardware import (
    BarcodeReader,
    HardwareSettings,
    KeyboardWedgeReader,
    MatrixKeypadReader,
    OsdpReader,
    Rdm6300Reader,
    ReaderSettings,
    WiegandReader,
)
from controller.domain.clock import Clock
from controller.door.ports import (
    DoorContactChanged,
    DoorInput,
    ExitRequest,
    HelpRequested,
    OpenButtonPressed,
)
from drivers.base import Reader
from drivers.beams import DirectionalCounter
from drivers.inputs import DoorContact, HelpButton, OpenButton, RexButton
from drivers.outputs import DoorOperator, Indicator, LockRelay


class HardwareError(Exception):
    """A device that cannot be set up (pin in use, OSDP key unreadable, evdev missing)."""


log = logging.getLogger(__name__)


@dataclass
class DoorHardware:
    """Every device of one door; `close()` locks first and releases every pin."""

    relay: LockRelay
    indicator: Indicator
    contact: DoorContact
    rex: RexButton
    readers: list[Reader]
    operator: DoorOperator | None = None  # the automatic door operator's trigger
    open_button: OpenButton | None = None  # inside: starts the operator, lets people out
    help_button: HelpButton | None = None  # at the entrance
    counter: DirectionalCounter | None = None  # the people counter's two beams
    _closed: bool = field(default=False, repr=False)

    def connect_inputs(self, submit: Callable[[DoorInput], None], clock: Clock) -> None:
        """Every button, the contact and the people counter post to the door loop (`submit`);
        crossings are stamped on the service's clock."""
        self.contact.on_opened = lambda: submit(DoorContactChanged(True))
        self.contact.on_closed = lambda: submit(DoorContactChanged(False))
        self.rex.on_pressed = lambda: submit(ExitRequest())
        if self.open_button is not None:
            self.open_button.on_pressed = lambda: submit(OpenButtonPressed())
        if self.help_button is not None:
            self.help_button.on_pressed = lambda: submit(HelpRequested())
        if self.counter is not None:
            self.counter.on_crossed, self.counter.clock = submit, clock

    def close_readers(self) -> None:
        """Stop every reader first (no input after the door stops); one failing stops none."""
        for reader in self.readers:
            try:
                reader.close()
            except Exception:
                log.exception("reader %s did not close", getattr(reader, "name", reader))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.relay.close()  # locks before releasing the pin
        for device in (
            self.operator,
            *self.readers,
            self.indicator,
            self.contact,
            self.rex,
            self.open_button,
            self.help_button,
            self.counter,
        ):
            if device is not None:
                device.close()


def build_reader(config: ReaderSettings, pin_factory: Factory | None) -> Reader:
    """One reader driver from its config entry."""
    if isinstance(config, Rdm6300Reader):
        from drivers.readers.rdm6300 import Rdm6300Reader as Rdm6300Driver

        return Rdm6300Driver(config.name, config.port, baudrate=config.baudrate)
    if isinstance(config, BarcodeReader):
        from drivers.readers.barcode import SerialBarcodeReader

        return SerialBarcodeReader(config.name, config.port, baudrate=config.baudrate)
    if isinstance(config, WiegandReader):
        from drivers.readers.wiegand import WiegandReader as WiegandDriver

        return WiegandDriver(config.name, config.d0_pin, config.d1_pin, pin_factory=pin_factory)
    if isinstance(config, MatrixKeypadReader):
        from drivers.readers.matrix_keypad import MatrixKeypad

        return MatrixKeypad(config.name, config.row_pins, config.col_pins, pin_factory=pin_factory)
    if isinstance(config, KeyboardWedgeReader):
        try:
            from drivers.readers.keyboard_wedge import KeyboardWedgeReader as KeyboardWedgeDriver
        except ImportError as exc:
            raise HardwareError(f"reader {config.name}: evdev is not available ({exc})") from None
        return KeyboardWedgeDriver(config.name, config.device, grab=config.grab)
    if isinstance(config, OsdpReader):
        return _osdp_reader(config)
    raise HardwareError(f"reader {config.name}: unsupported type")


def _osdp_reader(config: OsdpReader) -> Reader:
    try:
        from drivers.readers.osdp import OSDPReader
    except ImportError as exc:
        raise HardwareError(f"reader {config.name}: libosdp is not installed ({exc})") from None
    path = config.scbk_file.expanduser()
    try:
        if path.stat().st_mode & 0o077:
            raise HardwareError(f"{path}: OSDP key is readable by others; chmod 600 it")
        scbk = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise HardwareError(f"{path}: cannot read the OSDP key ({exc})") from None
    if len(scbk) != 16:
        raise HardwareError(f"{path}: OSDP key must be 16 bytes (32 hex digits)")
    return OSDPReader(config.name, scbk, device=config.port, address=config.address, baudrate=config.baudrate)


def build_hardware(config: HardwareSettings, pin_factory: Factory | None) -> DoorHardware:
    """Every device, relay first (locked), so nothing can unlock before the rest exists."""
    made: list[Any] = []

    def make(device: Any) -> Any:
        made.append(device)
        return device

    try:
        relay = make(LockRelay(config.lock.pin, active_high=config.lock.active_high, pin_factory=pin_factory))
        ind = config.indicator
        indicator = make(
            Indicator(
                ind.green_pin,
                ind.red_pin,
                ind.buzzer_pin,
                leds_active_high=ind.active_high,
                buzzer_active_high=ind.active_high,
                pin_factory=pin_factory,
            )
        )
        contact = make(
            DoorContact(
                config.door_contact_pin, open_when_high=config.door_open_when_high, pin_factory=pin_factory
            )
        )
        rex = make(RexButton(config.rex_pin, pin_factory=pin_factory))
        operator = (
            make(
                DoorOperator(
                    config.door_operator.pin,
                    active_high=config.door_operator.active_high,
                    pin_factory=pin_factory,
                )
            )
            if config.door_operator
            else None
        )
        open_button = (
            make(OpenButton(config.open_button_pin, pin_factory=pin_factory))
            if config.open_button_pin is not None
            else None
        )
        help_button = (
            make(HelpButton(config.help_button_pin, pin_factory=pin_factory))
            if config.help_button_pin is not None
            else None
        )
        counter = make(build_counter(config.counter, pin_factory)) if config.counter else None
        readers = [make(build_reader(reader, pin_factory)) for reader in config.readers]
    except HardwareError:
        _close_all(made)
        raise
    except Exception as exc:  # gpiozero's pin errors, serial setup errors
        _close_all(made)
        raise HardwareError(f"hardware setup failed: {type(exc).__name__}: {exc}") from exc
    return DoorHardware(relay, indicator, contact, rex, readers, operator, open_button, help_button, counter)


def build_counter(config: CounterSettings, pin_factory: Factory | None) -> DirectionalCounter:
    """The people counter; BranchService points its crossings at the door loop."""
    return DirectionalCounter(
        config.a_pin,
        config.b_pin,
        broken_when_low=config.broken_when_low,
        timeout_s=config.timeout_seconds,
        flicker_s=config.flicker_ms / 1000,
        pin_factory=pin_factory,
    )


def _close_all(devices: list[Any]) -> None:
    for device in reversed(devices):
        try:
            device.close()
        except Exception:  # noqa: BLE001 - best effort while already failing
            pass
