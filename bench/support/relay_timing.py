"""What the door benchmarks share: a mock pin that notes when the relay rose, and percentiles."""

from __future__ import annotations

import threading
import time

from gpiozero.pins.mock import MockPin

RELAY_PIN = 17  # the default lock pin (config: [hardware.lock] pin)


class TimedPin(MockPin):
    """Remembers when it last went high (the relay energising)."""

    rose_at: float = 0.0
    rose = threading.Event()

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed and value and self._number_is_relay():
            TimedPin.rose_at = time.perf_counter()
            TimedPin.rose.set()
        return changed

    def _number_is_relay(self) -> bool:
        return getattr(self.info, "name", "") in (f"GPIO{RELAY_PIN}", str(RELAY_PIN))


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]
