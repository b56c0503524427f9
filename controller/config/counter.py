"""The `[hardware.counter]` section: a directional people counter on two GPIO inputs.

    [hardware.counter]
    a_pin = 7                # the outside beam (or the counter's 'A' pulse output)
    b_pin = 8                # the inside beam: A then B is a person coming in
    broken_when_low = true   # IR receivers / open-collector outputs to ground, Pi pull-up
    timeout_seconds = 3      # a crossing not finished by then is dropped
    flicker_ms = 30          # a beam broken for less is ignored (0 for short pulse outputs)
    settle_seconds = 2       # crossings this long after the door shut still count to its opening

Absent: the door has no beam counter.

The `[counter]` section chooses where the door's in/out counts come from:

    [counter]
    source = "auto"          # "beams" ([hardware.counter]), "camera" (the line counter below),
                             # "none", or "auto": the beams when [hardware.counter] is there
    [counter.camera]         # the camera line counter, for branches without beams
    source = "rtsp://..."    # default: [camera].source; a USB camera opens in one process only,
                             # so with [camera] enabled give the counter a stream of its own
    orientation = "horizontal"
    position = 0.5           # where the line lies, a fraction of the picture's height (width)
    in_towards = "down"      # the movement that is "in"
    settle_seconds = 4       # crossings this long after the door shut still count to its opening

Without a counter (source "none", or "auto" without beams) occupancy, tailgating and the
closing round are off. The camera counter runs in a process of its own, never the door's
(controller.door.camera_counting); its crossings reach the door loop as queued inputs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from controller.config.pins import Pin, number_or_name
from controller.config.section import Section

MAX_CAMERA_INDEX = 63
CounterSource = Literal["auto", "beams", "camera", "none"]


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


class CameraCounterSettings(Section):
    """`[counter.camera]`: the camera line counter's source, line and timing."""

    source: Annotated[
        int | str | None,
        number_or_name(f"a camera number is 0-{MAX_CAMERA_INDEX}, or a stream such as 'rtsp://...'", 63),
    ] = Field(None, description="What the counter opens; default [camera].source.")
    orientation: Literal["horizontal", "vertical"] = Field(
        "horizontal", description="horizontal: people cross moving up or down the picture."
    )
    position: float = Field(
        0.5, gt=0, lt=1, allow_inf_nan=False, description="The line, as a fraction of the height (width)."
    )
    in_towards: Literal["down", "up", "left", "right"] = Field(
        "down", description="The movement across the line that is 'in'."
    )
    hysteresis: float = Field(
        0.08, ge=0, lt=0.5, allow_inf_nan=False, description="Half the band a walker must cross."
    )
    max_fps: float = Field(12.0, gt=0, le=30, allow_inf_nan=False, description="Frames above are skipped.")
    settle_seconds: float = Field(
        4.0,
        ge=0,
        le=30,
        allow_inf_nan=False,
        description="After the door shuts, crossings this long still count to the opening it closed "
        "(longer than the beams': a frame is seen, then counted in another process).",
    )
    in_process: bool = Field(True, description="Run the counter in its own process (else a thread).")

    @model_validator(mode="after")
    def _line(self) -> CameraCounterSettings:
        vertical = self.orientation == "vertical"
        if (self.in_towards in ("left", "right")) != vertical:
            raise ValueError(
                f"in_towards {self.in_towards!r} does not cross a {self.orientation} line "
                f"(use {'left or right' if vertical else 'down or up'})"
            )
        if not self.hysteresis < min(self.position, 1 - self.position):
            raise ValueError(f"hysteresis {self.hysteresis}: the band must lie inside the picture")
        return self


class CountingSettings(Section):
    """`[counter]`: which counter feeds occupancy and tailgating."""

    source: CounterSource = Field(
        "auto", description="beams, camera, none, or auto (the beams when [hardware.counter] is set)."
    )
    camera: CameraCounterSettings = CameraCounterSettings()

    def chosen(self, beams: CounterSettings | None) -> Literal["beams", "camera"] | None:
        """The counter in use ("auto": the beams if fitted)."""
        if self.source == "auto":
            return "beams" if beams is not None else None
        return None if self.source == "none" else self.source


PeopleCounter = CounterSettings | CameraCounterSettings


def people_counter(counting: CountingSettings, beams: CounterSettings | None) -> PeopleCounter | None:
    """The settings of the counter feeding the door (what Counting needs: its settle time)."""
    chosen = counting.chosen(beams)
    if chosen == "beams":
        return beams
    return counting.camera if chosen == "camera" else None


def _check_source(counting: CountingSettings, info: ValidationInfo) -> CountingSettings:
    """The chosen source must exist, and only the chosen one may be wired."""
    hardware: Any = info.data.get("hardware")
    camera: Any = info.data.get("camera")
    beams = getattr(hardware, "counter", None)
    if counting.source == "beams" and beams is None:
        raise PydanticCustomError(
            "counter_source", "source = 'beams' needs a [hardware.counter] section (its a_pin and b_pin)"
        )
    if counting.source in ("camera", "none") and beams is not None:
        raise PydanticCustomError(
            "counter_source",
            "source = '{source}' but [hardware.counter] is set: remove it, or use source = 'beams'",
            {"source": counting.source},
        )
    if counting.source == "camera":
        own = counting.camera.source
        recorder = getattr(camera, "source", None)
        if own is None and recorder is None:
            raise PydanticCustomError("counter_source", "source = 'camera' needs counter.camera.source")
        if isinstance(own if own is not None else recorder, int) and getattr(camera, "enabled", False):
            if own is None or own == recorder:
                raise PydanticCustomError(
                    "counter_source",
                    "counter.camera.source: USB camera {index} is the recorder's ([camera] is enabled) "
                    "and opens in one process only: give the counter a stream such as 'rtsp://...'",
                    {"index": recorder},
                )
    return counting


Counting = Annotated[CountingSettings, AfterValidator(_check_source)]
