"""`[[outputs]]`: named building outputs (public PCs, heating, extra lights, a sign) the schedule
switches per door mode, each on its own GPIO pin.

    [[outputs]]
    name = "public_pcs"              # a-z, 0-9, _ and -: it is in the API's URL
    pin = 20                         # BCM number or a name such as "GPIO20"
    active_high = true               # the pin level that means "on"
    on_in = ["staffed", "openplus"]  # on in these modes, off in the others
    offsets = { openplus_end = -15 } # minutes; negative = before the change, positive = after

An offset is keyed `<mode>_start` or `<mode>_end` and moves the switch at that mode change
(controller.domain.outputs says which wins when both ends could apply, and why that is refused
here). An output may use no pin of [hardware].

The door's lights and intruder-alarm lines are two of these outputs, marked with a role:

    [[outputs]]
    name = "alarm"
    pin = 26
    role = "alarm"                   # armed while on; never armed while the people counter
    on_in = ["closed", "closure"]    #   says someone is inside, unless a staff card confirms
    offsets = { openplus_end = 5 }   # arm 5 minutes after Open+ ends

A `role = "lights"` output is also switched on by the door at an Open+ grant and kept on by
the closing round. The old `[hardware.lights]` / `[hardware.alarm]` keys are still read: each
becomes the output "lights" (on when the door says) or "alarm" (armed in closed modes), as
`door_lines` says; both a key and a role output, or the key and an output already named so,
are refused naming the key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from controller.config.pins import Pin
from controller.config.section import Section
from controller.domain.modes import DoorMode
from controller.domain.outputs import MAX_OFFSET_MINUTES, Edge, OutputRules

MAX_OUTPUTS = 32
Role = Literal["lights", "alarm"]
ROLES: tuple[Role, ...] = ("lights", "alarm")
MODES = ", ".join(mode.value for mode in DoorMode)
_GPIO_NAME = re.compile(r"(?:GPIO|BCM)(\d+)", re.IGNORECASE)


def _mode(value: str) -> DoorMode:
    try:
        return DoorMode(value)
    except ValueError:
        raise PydanticCustomError(
            "unknown_mode", "unknown mode '{value}': the modes are {modes}", {"value": value, "modes": MODES}
        ) from None


def _edge_key(key: str) -> tuple[DoorMode, Edge]:
    mode, _, edge = key.rpartition("_")
    if edge not in (Edge.START, Edge.END):
        raise PydanticCustomError(
            "unknown_offset",
            "offset '{key}': name it <mode>_start or <mode>_end, e.g. openplus_end",
            {"key": key},
        )
    return _mode(mode), Edge(edge)


def pin_key(pin: int | str) -> int | str:
    """One key for one pin: 17, 'GPIO17' and 'BCM17' are the same pin; other names as written."""
    if isinstance(pin, int):
        return pin
    match = _GPIO_NAME.fullmatch(pin.strip())
    return int(match.group(1)) if match else pin.strip()


class BuildingOutputSettings(Section):
    """One named output and when the schedule has it on."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
        description="Shown on the Today page and in the API's URL: a-z, 0-9, _ and -.",
    )
    pin: Pin = Field(description="BCM number 0-53 or a name such as 'GPIO20'.")
    active_high: bool = Field(
        True, description="The pin level that means on (many relay boards are active-low)."
    )
    on_in: list[str] = Field(
        default_factory=list,
        max_length=len(DoorMode),
        description=f"The modes in which it is on ({MODES}); off in the others.",
    )
    offsets: dict[str, int] = Field(
        default_factory=dict,
        description="Minutes a switch is moved, keyed <mode>_start or <mode>_end; negative is "
        f"before the mode change, positive after; at most {MAX_OFFSET_MINUTES} either way.",
    )
    role: Role | None = Field(
        None,
        description="lights: the door also has it on at an Open+ grant and in the closing round; "
        "alarm: the intruder alarm's arm line, held off while someone is inside by the count.",
    )

    @field_validator("on_in")
    @classmethod
    def _modes(cls, value: list[str]) -> list[str]:
        modes = [_mode(item) for item in value]
        if len(set(modes)) != len(modes):
            raise PydanticCustomError("duplicate_mode", "a mode is listed twice")
        return value

    @field_validator("offsets")
    @classmethod
    def _offsets(cls, value: dict[str, int]) -> dict[str, int]:
        for key, minutes in value.items():
            _edge_key(key)
            if not -MAX_OFFSET_MINUTES <= minutes <= MAX_OFFSET_MINUTES:
                raise PydanticCustomError(
                    "offset_range",
                    "offset {key} = {minutes}: at most {limit} minutes either way",
                    {"key": key, "minutes": minutes, "limit": MAX_OFFSET_MINUTES},
                )
        return value

    @model_validator(mode="after")
    def _one_offset_per_switch(self) -> BuildingOutputSettings:
        """The end of one mode and the start of another with a different state would both move
        the switch between them; which should win is the library's to say, so say it once."""
        rules = self.rules()
        for left, left_edge in rules.offsets:
            for entered, entered_edge in rules.offsets:
                if (
                    left_edge is Edge.END
                    and entered_edge is Edge.START
                    and left is not entered
                    and rules.is_on_in(left) != rules.is_on_in(entered)
                ):
                    raise PydanticCustomError(
                        "offset_conflict",
                        "offsets {a}_end and {b}_start both move the switch "
                        "when {a} gives way to {b}: keep one",
                        {"a": left.value, "b": entered.value},
                    )
        return self

    def rules(self) -> OutputRules:
        """The planner's view (controller.domain.outputs)."""
        return OutputRules(
            on_in=frozenset(DoorMode(mode) for mode in self.on_in),
            offsets={_edge_key(key): minutes for key, minutes in self.offsets.items()},
        )


def _hardware_pins(section: Any) -> dict[int | str, str]:
    """Every pin [hardware] uses, by pin key, with the setting that uses it."""
    found: dict[int | str, str] = {}

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Section):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{where}.{name}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")
        elif (
            where.rsplit(".", 1)[-1].split("[")[0].endswith(("pin", "pins"))
            and isinstance(value, int | str)
            and not isinstance(value, bool)
        ):
            found.setdefault(pin_key(value), where)

    walk(section, "hardware")
    return found


def _distinct(outputs: list[BuildingOutputSettings], info: ValidationInfo) -> list[BuildingOutputSettings]:
    """No two outputs share a name or a pin, and none takes a pin of [hardware]."""
    hardware = _hardware_pins(info.data["hardware"]) if "hardware" in info.data else {}
    _one_per_role(outputs, info.data.get("hardware"))
    names: set[str] = set()
    pins: dict[int | str, str] = {}
    for output in outputs:
        if output.name in names:
            raise PydanticCustomError(
                "duplicate_output", "two outputs are named '{name}'", {"name": output.name}
            )
        names.add(output.name)
        key = pin_key(output.pin)
        user = pins.get(key) or hardware.get(key)
        if user is not None:
            raise PydanticCustomError(
                "pin_in_use",
                "output '{name}': pin {pin} is taken by {user}",
                {"name": output.name, "pin": output.pin, "user": user},
            )
        pins[key] = f"output '{output.name}'"
    return outputs


BuildingOutputs = Annotated[
    list[BuildingOutputSettings], Field(max_length=MAX_OUTPUTS), AfterValidator(_distinct)
]


def _one_per_role(outputs: list[BuildingOutputSettings], hardware: Any) -> None:
    """One lights and one alarm line at most, whether from [hardware] or [[outputs]]."""
    for role in ROLES:
        having = [output.name for output in outputs if output.role == role]
        if len(having) > 1:
            raise PydanticCustomError(
                "duplicate_role", "outputs {names} both have role = '{role}'", {"names": having, "role": role}
            )
        if getattr(hardware, role, None) is None:
            continue
        if having:
            raise PydanticCustomError(
                "role_twice",
                "hardware.{role} and output '{name}' (role = '{role}') both drive the {role} line: "
                "remove hardware.{role} (its pin and active_high go in the output)",
                {"role": role, "name": having[0]},
            )
        if any(output.name == role for output in outputs):
            raise PydanticCustomError(
                "role_name_taken",
                "hardware.{role} becomes the output '{role}', and an output has that name: rename "
                "it, or move hardware.{role} into it with role = '{role}'",
                {"role": role},
            )


def door_lines(outputs: list[BuildingOutputSettings], hardware: Any) -> list[BuildingOutputSettings]:
    """[[outputs]] plus the old [hardware.lights] / [hardware.alarm] as the outputs 'lights'
    (on only when the door says) and 'alarm' (armed in the closed modes). A role already in
    [[outputs]] wins (a validated config never has both; the simulator adds its own lines)."""
    lines = list(outputs)
    taken = {output.role for output in outputs}
    closed = [mode.value for mode in DoorMode if mode.is_closed]
    for role, on_in in (("lights", []), ("alarm", closed)):
        line = getattr(hardware, role, None)
        if line is not None and role not in taken:
            if any(output.name == role for output in outputs):  # parse_settings refuses this
                raise ValueError(f"hardware.{role} becomes the output '{role}', and an output has that name")
            lines.append(
                BuildingOutputSettings(
                    name=role, pin=line.pin, active_high=line.active_high, on_in=on_in, role=role
                )
            )
    return lines
