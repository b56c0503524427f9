"""Door-side outputs on GPIO: lock relay, indicator LEDs and buzzer, lights, alarm arm line,
the door operator's trigger, and the named building outputs of [[outputs]].

Every class takes its pins, polarity and pin factory as arguments (the controller wires them
from its config) and states its initial level, so a restart never opens the door by accident.
Nothing here sleeps in the caller's thread: timed signals run on gpiozero's blink threads.
"""

from __future__ import annotations

from typing import TypeVar

from gpiozero import LED, Buzzer, DigitalOutputDevice, OutputDevice
from gpiozero.pins import Factory

PinId = int | str
_Output = TypeVar("_Output", bound=DigitalOutputDevice)


class LockRelay:
    """The lock relay: locked (relay released) from construction until unlock() is called.

    Wire the lock so that a de-energised relay means locked (fail-secure strike on NO, or a
    maglock on NC). `active_high` is the pin level that energises the relay, i.e. unlocks;
    many opto-isolated relay boards are active-low.
    """

    def __init__(self, pin: PinId, *, active_high: bool = True, pin_factory: Factory | None = None) -> None:
        self._relay = OutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)

    def unlock(self) -> None:
        self._relay.on()

    def lock(self) -> None:
        self._relay.off()

    @property
    def is_unlocked(self) -> bool:
        return bool(self._relay.is_active)

    def close(self) -> None:
        """Lock, then release the pin."""
        if not self._relay.closed:
            self._relay.off()
        self._relay.close()


def relay_off(pin: PinId, *, active_high: bool = True, pin_factory: Factory | None = None) -> None:
    """Drive the lock relay pin to its locked level, then release it (systemd ExecStopPost).

    Once released the pin becomes an input: the relay board's own pull resistor must hold it
    at the locked level from then on (standard boards do; check yours).
    """
    with OutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory):
        pass


class Indicator:
    """Green LED, red LED and optional buzzer: short signals to the person at the door.

    All start off. Timed signals run in the background and are cut short by the next signal.
    """

    def __init__(
        self,
        green_pin: PinId,
        red_pin: PinId,
        buzzer_pin: PinId | None = None,
        *,
        leds_active_high: bool = True,
        buzzer_active_high: bool = True,
        pin_factory: Factory | None = None,
        signal_s: float = 2.0,
        beep_s: float = 0.1,
    ) -> None:
        self.signal_s = signal_s
        self.beep_s = beep_s
        self._devices: list[DigitalOutputDevice] = []
        try:
            self.green = self._add(
                LED(green_pin, active_high=leds_active_high, initial_value=False, pin_factory=pin_factory)
            )
            self.red = self._add(
                LED(red_pin, active_high=leds_active_high, initial_value=False, pin_factory=pin_factory)
            )
            self.buzzer: Buzzer | None = None
            if buzzer_pin is not None:
                self.buzzer = self._add(
                    Buzzer(
                        buzzer_pin,
                        active_high=buzzer_active_high,
                        initial_value=False,
                        pin_factory=pin_factory,
                    )
                )
        except Exception:
            self.close()
            raise

    @staticmethod
    def _or_default(seconds: float | None, default: float) -> float:
        return default if seconds is None else seconds

    def _add(self, device: _Output) -> _Output:
        self._devices.append(device)
        return device

    def show_granted(self, seconds: float | None = None) -> None:
        """Green on for `seconds` (default signal_s) and one short beep."""
        self.red.off()
        on_time = self._or_default(seconds, self.signal_s)
        self.green.blink(on_time=on_time, off_time=0, n=1, background=True)
        self.beep()

    def show_refused(self, seconds: float | None = None) -> None:
        """Red on for `seconds` (default signal_s) and two short beeps."""
        self.green.off()
        on_time = self._or_default(seconds, self.signal_s)
        self.red.blink(on_time=on_time, off_time=0, n=1, background=True)
        self.beep(times=2)

    def beep(self, seconds: float | None = None, times: int = 1) -> None:
        """`times` beeps of `seconds` (default beep_s) in the background; no-op without a buzzer."""
        if self.buzzer is None:
            return
        length = self._or_default(seconds, self.beep_s)
        self.buzzer.blink(on_time=length, off_time=length, n=times, background=True)

    def show_waiting(self) -> None:
        """Green blinking until the next signal: a card was read, a PIN is expected."""
        self.red.off()
        self.green.blink(on_time=0.25, off_time=0.25, n=None, background=True)

    def all_off(self) -> None:
        for device in self._devices:
            device.off()

    def close(self) -> None:
        for device in self._devices:
            device.close()


class BuildingOutput:
    """A named building output the schedule switches per mode (public PCs, heating, a sign):
    one relay held at a level. `initial_on` has no default on purpose: the controller works out
    the state the schedule wants at start-up and starts the pin there, so a restart in the
    middle of Open+ never blinks the PCs off and on again."""

    def __init__(
        self,
        name: str,
        pin: PinId,
        *,
        initial_on: bool,
        active_high: bool = True,
        pin_factory: Factory | None = None,
    ) -> None:
        self.name = name
        self._relay = OutputDevice(
            pin, active_high=active_high, initial_value=initial_on, pin_factory=pin_factory
        )

    def set(self, on: bool) -> None:
        (self._relay.on if on else self._relay.off)()

    def on(self) -> None:
        self._relay.on()

    def off(self) -> None:
        self._relay.off()

    @property
    def is_on(self) -> bool:
        return bool(self._relay.is_active)

    def close(self) -> None:
        self._relay.close()


class Lights:
    """The lights relay the schedule switches for unstaffed hours; off unless `initial_on`."""

    def __init__(
        self,
        pin: PinId,
        *,
        active_high: bool = True,
        initial_on: bool = False,
        pin_factory: Factory | None = None,
    ) -> None:
        self._relay = OutputDevice(
            pin, active_high=active_high, initial_value=initial_on, pin_factory=pin_factory
        )

    def on(self) -> None:
        self._relay.on()

    def off(self) -> None:
        self._relay.off()

    @property
    def is_on(self) -> bool:
        return bool(self._relay.is_active)

    def close(self) -> None:
        self._relay.close()


class AlarmPanel:
    """The intruder alarm's arm input, held as a level: active = armed.

    `initial_armed` has no default on purpose: arming at boot can trip the alarm on people
    inside, disarming can leave a closed branch unguarded; the controller must choose.
    """

    def __init__(
        self, pin: PinId, *, initial_armed: bool, active_high: bool = True, pin_factory: Factory | None = None
    ) -> None:
        self._line = OutputDevice(
            pin, active_high=active_high, initial_value=initial_armed, pin_factory=pin_factory
        )

    def arm(self) -> None:
        self._line.on()

    def disarm(self) -> None:
        self._line.off()

    @property
    def is_armed(self) -> bool:
        return bool(self._line.is_active)

    def close(self) -> None:
        self._line.close()


class DoorOperator:
    """The trigger input of an automatic door operator (a swing or sliding door drive): while
    on, the operator opens the door. Off from construction: a restart never opens the door.

    The door pulses it (on, then off after door.operator_pulse_seconds on its own clock);
    the operator holds the door open for its own set time, then closes it.
    """

    def __init__(self, pin: PinId, *, active_high: bool = True, pin_factory: Factory | None = None) -> None:
        self._trigger = OutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )

    def on(self) -> None:
        self._trigger.on()

    def off(self) -> None:
        self._trigger.off()

    @property
    def is_on(self) -> bool:
        return bool(self._trigger.is_active)

    def close(self) -> None:
        """Off, then release the pin."""
        if not self._trigger.closed:
            self._trigger.off()
        self._trigger.close()
