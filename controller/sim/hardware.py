"""A simulated branch entrance: the real service and drivers, fed like hardware would feed them.

Pins are gpiozero mock pins; the RFID reader and the barcode scanner are pseudo-terminals the
simulator writes real RDM6300 frames and scanner lines into; the keypad is a Wiegand keypad
whose D0/D1 pins get real 4-bit bursts. Nothing on the decision path knows it is simulated.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPin, PinState

from controller.config.counter import CounterSettings
from controller.config.hardware import BarcodeReader, OutputPin, Rdm6300Reader, WiegandReader
from controller.config.settings import Settings

KEYPAD_D0, KEYPAD_D1 = 23, 24
# The accessible entrance's devices, on pins the other simulated devices leave free.
OPERATOR_PIN, OPEN_BUTTON_PIN, HELP_BUTTON_PIN = 20, 16, 12
BEAM_A, BEAM_B = 7, 8  # the people counter's outside and inside beams
BEAM_STEP_SECONDS = 0.05  # between beam edges: each beam is broken longer than a flicker
KEY_GAP_SECONDS = 0.06  # longer than the Wiegand frame gap, so each key is its own burst
KEYCODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PIN_HISTORY = 64  # level changes a simulated pin remembers (a key is 8 edges on D0/D1)

log = logging.getLogger(__name__)


class BoundedMockPin(MockPin):
    """A gpiozero mock pin that remembers its last PIN_HISTORY level changes, not every one.

    MockPin appends each change to `states` (for a test's assert_states) and never forgets:
    a simulator left running grows with every key and door movement (bench/memory.py measured
    +4.6 MB per 1,000 entries). The simulator asserts nothing on that history, so it keeps a
    window; the drivers see the same pin either way.
    """

    states: deque[PinState]

    def clear_states(self) -> None:
        super().clear_states()
        self.states = deque(self.states, maxlen=PIN_HISTORY)


def simulator_pin_factory() -> MockFactory:
    """The simulator's mock pins: gpiozero's, with a bounded history."""
    return MockFactory(pin_class=BoundedMockPin)


def rdm6300_frame(tag: int, version: int = 0) -> bytes:
    """STX, 10 hex chars (version + 32-bit tag), 2 hex chars XOR checksum, ETX."""
    data = bytes([version]) + tag.to_bytes(4, "big")
    checksum = 0
    for byte in data:
        checksum ^= byte
    return b"\x02" + data.hex().upper().encode() + f"{checksum:02X}".encode() + b"\x03"


def wiegand_key_bits(key: str) -> list[int]:
    code = KEYCODES[key]
    return [(code >> shift) & 1 for shift in (3, 2, 1, 0)]


def demo_camera_video(path: Path, seconds: int = 30, fps: int = 10) -> Path:
    """A test-pattern 'entrance camera' video (made once): a moving bar and a frame counter.

    Drawn in a child process: OpenCV and NumPy, once imported, stay in a process's memory for
    good (~75 MB), and this one is the door's, which never handles a frame itself.
    """
    if path.is_file():
        return path
    maker = multiprocessing.get_context("spawn").Process(
        target=write_demo_video, args=(path, seconds, fps), name="demo-camera-video"
    )
    maker.start()
    maker.join()
    if maker.exitcode != 0:  # the recorder will report the missing file as a camera fault
        log.warning("could not write the demo camera video %s (exit code %s)", path, maker.exitcode)
    return path


def write_demo_video(path: Path, seconds: int, fps: int) -> None:
    """The demo video's frames (in demo_camera_video's child process)."""
    import cv2
    import numpy as np

    width, height = 640, 360
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    try:
        for n in range(seconds * fps):
            frame = np.full((height, width, 3), (60, 50, 40), dtype=np.uint8)
            x = (n * 8) % width
            cv2.rectangle(frame, (x, 120), (x + 60, 300), (40, 160, 220), -1)
            cv2.putText(
                frame,
                f"openplus-door demo camera  frame {n:04d}",
                (20, 50),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.8,
                (255, 255, 255),
                2,
            )
            writer.write(frame)
    finally:
        writer.release()


def _beams(settings: Settings) -> CounterSettings | None:
    """The configured beams, else the simulator's own, unless [counter] counts on camera or not
    at all (then the door has no beams, as it would on the real branch)."""
    if settings.hardware.counter is None and settings.counter.source in ("camera", "none"):
        return None
    return settings.hardware.counter or CounterSettings(a_pin=BEAM_A, b_pin=BEAM_B)


def _or(pin: int | str | None, default: int) -> int | str:
    """The configured pin, or the simulator's own when the config has none."""
    return default if pin is None else pin


class PseudoTerminal:
    """A pty pair; the driver opens `path` with pyserial, the simulator writes to the master."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass
class SimulatedHardware:
    """The mock pins and ptys behind a simulated door, and how a person acts on them."""

    factory: MockFactory
    rfid: PseudoTerminal
    scanner: PseudoTerminal
    settings: Settings

    @classmethod
    def create(
        cls, settings: Settings, factory: MockFactory | None = None, camera_video: Path | None = None
    ) -> SimulatedHardware:
        """Mock pins, two ptys and, with `camera_video`, a looping video file as the camera."""
        rfid, scanner = PseudoTerminal(), PseudoTerminal()
        hardware = settings.hardware.model_copy(
            update={
                "lights": settings.hardware.lights or OutputPin(pin=19),
                "alarm": settings.hardware.alarm or OutputPin(pin=26),
                "door_operator": settings.hardware.door_operator or OutputPin(pin=OPERATOR_PIN),
                "open_button_pin": _or(settings.hardware.open_button_pin, OPEN_BUTTON_PIN),
                "help_button_pin": _or(settings.hardware.help_button_pin, HELP_BUTTON_PIN),
                "counter": _beams(settings),
                "readers": [
                    Rdm6300Reader(type="rdm6300", name="rfid", port=rfid.path),
                    BarcodeReader(type="barcode", name="scanner", port=scanner.path),
                    WiegandReader(type="wiegand", name="keypad", d0_pin=KEYPAD_D0, d1_pin=KEYPAD_D1),
                ],
            }
        )
        update: dict = {"hardware": hardware}
        if camera_video is not None and not settings.camera.enabled:
            update["camera"] = settings.camera.model_copy(
                update={
                    "enabled": True,
                    "source": str(demo_camera_video(camera_video)),
                    "loop_video_file": True,
                }
            )
        return cls(factory or simulator_pin_factory(), rfid, scanner, settings.model_copy(update=update))

    def at_rest(self) -> None:
        """Door shut, keypad lines idle: call once the devices exist (their pull-ups set levels)."""
        self.close_door()
        for pin in (KEYPAD_D0, KEYPAD_D1):
            self.factory.pin(pin).drive_high()
        for beam in self._beams if self.settings.hardware.counter is not None else ():
            self._break(beam, False)

    @property
    def _contact_pin(self):
        return self.factory.pin(self.settings.hardware.door_contact_pin)

    def present_card(self, card: str) -> str:
        """A 10-digit tag number goes through the RFID reader, anything else is scanned."""
        if len(card) == 10 and card.isdigit() and int(card) < 2**32:
            self.rfid.write(rdm6300_frame(int(card)))
            return "rfid"
        self.scanner.write(card.encode("ascii", "replace") + b"\r\n")
        return "scanner"

    def press_keys(self, keys: str, pause: threading.Event | None = None) -> None:
        """Each key as one 4-bit Wiegand burst on D0/D1, with a gap between keys."""
        for key in keys:
            for bit in wiegand_key_bits(key):
                pin = self.factory.pin(KEYPAD_D1 if bit else KEYPAD_D0)
                pin.drive_low()
                pin.drive_high()
            (pause or threading.Event()).wait(KEY_GAP_SECONDS)

    def open_door(self) -> None:
        self._level(self._contact_pin, open_=True)

    def close_door(self) -> None:
        self._level(self._contact_pin, open_=False)

    def _level(self, pin, open_: bool) -> None:
        high = open_ == self.settings.hardware.door_open_when_high
        pin.drive_high() if high else pin.drive_low()

    @property
    def _beams(self) -> tuple[int | str, int | str]:
        counter = self.settings.hardware.counter
        assert counter is not None, "no beams: [counter] counts on camera, or not at all"
        return counter.a_pin, counter.b_pin

    def _break(self, beam: int | str, broken: bool) -> None:
        counter = self.settings.hardware.counter
        low = broken == (counter is None or counter.broken_when_low)
        self.factory.pin(beam).drive_low() if low else self.factory.pin(beam).drive_high()

    def walk(self, direction: str, pause: threading.Event | None = None) -> None:
        """Someone walks through the doorway: 'in' breaks the outside beam A first and
        clears the inside beam B last, 'out' the other way round."""
        first, second = self._beams if direction == "in" else reversed(self._beams)
        for beam, broken in ((first, True), (second, True), (first, False), (second, False)):
            self._break(beam, broken)
            (pause or threading.Event()).wait(BEAM_STEP_SECONDS)

    def press_rex(self) -> None:
        self._press(self.settings.hardware.rex_pin)

    def press_open_button(self) -> None:
        """The 'open' button inside (starts the door operator)."""
        self._press(self.settings.hardware.open_button_pin)

    def press_help_button(self) -> None:
        """The help button at the entrance."""
        self._press(self.settings.hardware.help_button_pin)

    def _press(self, number: int | str | None) -> None:
        """A push button to ground: pressed (low), then released (high)."""
        assert number is not None, "create() gives every simulated button a pin"
        pin = self.factory.pin(number)
        pin.drive_low()
        pin.drive_high()

    def outputs(self) -> dict[str, bool]:
        """What a person sees and hears: relay, LEDs, buzzer, lights, alarm line, door operator."""
        hw = self.settings.hardware
        leds = hw.indicator.active_high
        pins = {
            "relay": (hw.lock.pin, hw.lock.active_high),
            "green": (hw.indicator.green_pin, leds),
            "red": (hw.indicator.red_pin, leds),
        }
        if hw.indicator.buzzer_pin is not None:
            pins["buzzer"] = (hw.indicator.buzzer_pin, leds)
        for name, output in (("lights", hw.lights), ("alarm", hw.alarm), ("operator", hw.door_operator)):
            if output is not None:
                pins[name] = (output.pin, output.active_high)
        return {
            name: bool(self.factory.pin(number).state) == active_high
            for name, (number, active_high) in pins.items()
        }

    def close(self) -> None:
        self.rfid.close()
        self.scanner.close()
