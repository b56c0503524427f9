"""Door-side inputs on GPIO: the door contact, the request-to-exit (REX) button, the
inside open button and the help button.

Callbacks run on gpiozero's pin-event thread: keep them short (put an event on the door's
queue and return).
"""

from __future__ import annotations

from collections.abc import Callable

from gpiozero import Button
from gpiozero.pins import Factory

PinId = int | str
Callback = Callable[[], None]

DEFAULT_BOUNCE_S = 0.05


class DoorContact:
    """Reports whether the door is open and calls on_opened/on_closed on each change.

    Assumed wiring: a normally-closed reed contact between the pin and ground, with the Pi's
    pull-up. A closed door closes the contact and pulls the pin low; an open door (or a cut
    wire) lets it float up to high, so 'open' = high and tampering reads as open. For a
    contact that reads the other way, pass `open_when_high=False`.

    `bounce_s` is handed to gpiozero (honoured by real pin factories, ignored by mock pins).
    """

    def __init__(
        self,
        pin: PinId,
        *,
        open_when_high: bool = True,
        on_opened: Callback | None = None,
        on_closed: Callback | None = None,
        bounce_s: float | None = DEFAULT_BOUNCE_S,
        pin_factory: Factory | None = None,
    ) -> None:
        self.on_opened = on_opened
        self.on_closed = on_closed
        # With pull_up=True the Button is active when the pin is low.
        self._open_when_active = not open_when_high
        self._button = Button(pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory)
        self._button.when_activated = self._on_activated
        self._button.when_deactivated = self._on_deactivated

    @property
    def is_open(self) -> bool:
        return bool(self._button.is_active) == self._open_when_active

    def close(self) -> None:
        self._button.close()

    def _on_activated(self) -> None:
        self._fire(self.on_opened if self._open_when_active else self.on_closed)

    def _on_deactivated(self) -> None:
        self._fire(self.on_closed if self._open_when_active else self.on_opened)

    @staticmethod
    def _fire(callback: Callback | None) -> None:
        if callback is not None:
            callback()


class PushButton:
    """A push button; calls on_pressed once per press.

    Assumed wiring: a normally-open push button between the pin and ground, Pi pull-up.
    """

    def __init__(
        self,
        pin: PinId,
        *,
        on_pressed: Callback | None = None,
        bounce_s: float | None = DEFAULT_BOUNCE_S,
        pin_factory: Factory | None = None,
    ) -> None:
        self.on_pressed = on_pressed
        self._button = Button(pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory)
        self._button.when_pressed = self._on_press

    @property
    def is_pressed(self) -> bool:
        return bool(self._button.is_pressed)

    def close(self) -> None:
        self._button.close()

    def _on_press(self) -> None:
        if self.on_pressed is not None:
            self.on_pressed()


class RexButton(PushButton):
    """The request-to-exit button inside the door."""


class OpenButton(PushButton):
    """The 'open' button inside, for people who cannot push a door: starts the door operator
    and lets them out like the exit button."""


class HelpButton(PushButton):
    """The help button at the entrance: asks for help; it never opens anything."""
