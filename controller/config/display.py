"""The `[display]` section: the character LCD at the entrance (drivers/lcd.py), when there is one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controller.config.section import Section


class LcdSettings(Section):
    """An HD44780 16x2 or 20x4 display behind a PCF8574 I2C backpack."""

    i2c_port: int = Field(1, ge=0, le=20, description="/dev/i2c-<port>; 1 on a Raspberry Pi.")
    address: int = Field(
        0x27,
        ge=0x03,
        le=0x77,
        description="The backpack's I2C address: 0x27 or 0x3F on most (i2cdetect -y 1).",
    )
    size: Literal["16x2", "20x4"] = Field("16x2", description="Columns x rows.")

    @property
    def cols(self) -> int:
        return int(self.size.split("x")[0])

    @property
    def rows(self) -> int:
        return int(self.size.split("x")[1])


class DisplaySettings(Section):
    """What shows the door's messages besides the LEDs; nothing is set by default."""

    lcd: LcdSettings | None = Field(None, description="A character LCD; absent: none.")
