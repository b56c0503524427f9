"""The `[hardware.counter]` section: a directional people counter on two GPIO inputs.

    [hardware.counter]
    a_pin = 7                # the outside beam (or the counter's 'A' pulse output)
    b_pin = 8                # the inside beam: A then B is a person coming in
    broken_when_low = true   # IR receivers / open-collector outputs to ground, Pi pull-up
    timeout_seconds = 3      # a crossing not finished by then is dropped
    flicker_ms = 30          # a beam broken for less is ignored (0 for short pulse outputs)
    settle_seconds = 2       # crossings this long after the door shut still count to its opening

Absent: the door has no counter; occupancy, tailgating and the closing round are off.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from controller.config.pins import Pin
from controller.config.section import Section


class CounterSettings(Section):
    """Two beams (or pulse outputs); which is outside decides which way is 'in'."""

    a_pin: Pin = Field(description="The outside beam: broken first by someone coming in.")
    b_pin: Pin = Field(description="The inside beam: broken first by someone going out.")
    broken_when_low: bool = Field(
        True, description="Pull-up, low while broken; false: pull-down, high while broken."
    )
    timeout_seconds: float = Field(
        3.0,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description="A crossing not finished this long after it began counts nothing.",
    )
    flicker_ms: float = Field(
        30.0, ge=0, le=1000, allow_inf_nan=False, description="A beam broken for less than this is ignored."
    )
    settle_seconds: float = Field(
        2.0,
        ge=0,
        le=30,
        allow_inf_nan=False,
        description="After the door shuts, crossings this long still count to the opening it closed.",
    )

    @model_validator(mode="after")
    def _two_pins(self) -> CounterSettings:
        if self.a_pin == self.b_pin:
            raise ValueError(f"a_pin and b_pin are both {self.a_pin!r}: the counter needs two inputs")
        return self
