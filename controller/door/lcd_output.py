"""The door's messages on a character LCD (drivers/lcd.py), written from a thread of its own.

It follows the door's snapshots (a page listener), not the door's `show` calls: a message
times out back to the card prompt without a `show`, and the display must follow it there.

Why a thread: one message is a few hundred I2C writes (tens of milliseconds on a Pi), which
would hold up the observer thread (state file, door screen) and must never touch the door
thread. Only the newest messages matter, so the queue is short and drops the oldest.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from controller.config.display import LcdSettings
from controller.domain.events import OutputFaultReason
from controller.domain.messages import DoorMessage
from controller.door.observers import ObserverQueue
from controller.door.ports import DoorSnapshot
from drivers.lcd import CharacterLcd, I2cBus, open_i2c_bus

QUEUE_SIZE = 4


class LcdOutput:
    """`update(snapshot)` returns at once; the display gets it on the `door-lcd` thread."""

    def __init__(self, lcd: CharacterLcd) -> None:
        self.lcd = lcd
        self._queue = ObserverQueue(queue_size=QUEUE_SIZE, name="door-lcd")
        self._last: DoorMessage | None = None  # the observer thread's: what was last queued

    @classmethod
    def from_settings(
        cls,
        settings: LcdSettings,
        on_fault: Callable[[OutputFaultReason, str], None],
        open_bus: Callable[[], I2cBus] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> LcdOutput:
        """The configured display; `on_fault` hears once per outage that it is unreachable.
        Tests pass their own bus and a `sleep` that skips the display's pauses."""
        return cls(
            CharacterLcd(
                open_bus or (lambda: open_i2c_bus(settings.i2c_port)),
                settings.address,
                settings.cols,
                settings.rows,
                on_fault=lambda detail: on_fault(OutputFaultReason.DISPLAY_UNREACHABLE, detail),
                sleep=sleep,
            )
        )

    def update(self, snapshot: DoorSnapshot) -> None:
        """A page listener (on the observer thread): a changed message goes to the display;
        a key press or a door movement with the same message writes nothing."""
        if snapshot.message != self._last:
            self.show(snapshot.message)

    def show(self, message: DoorMessage) -> None:
        self._last = message
        self._queue.post(self.lcd.show_message, message.nl, message.en)

    def start(self) -> None:
        self._queue.start()

    def stop(self, timeout: float = 0.5) -> None:
        self._queue.stop(timeout)

    def run_pending(self) -> None:
        """Write what is queued on the caller's thread (tests: the thread was not started)."""
        self._queue.run_pending()
