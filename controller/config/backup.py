"""The `[backup]` section: the door process's daily backup (database, PIN key, config).

Off by default: where a backup should go (a USB stick, a mounted share) is the library's
choice, and one kept on the Pi's own SD card does not survive the card. `openplus-door backup`
works without this section; the section only adds the daily job and how many to keep.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import Field, field_validator

from controller.config.section import Section


class BackupSettings(Section):
    """The daily backup job: on when `dir` is set."""

    dir: Path | None = Field(
        None,
        description="Directory the daily backup is written to (openplus-door-YYYYmmdd-HHMMSS"
        ".tar.gz, or .tar.gz.enc with a passphrase). Unset: no daily backup.",
    )
    keep: int = Field(7, ge=1, le=1000, description="Daily backups kept in `dir`; older ones are deleted.")
    passphrase_file: Path | None = Field(
        None,
        description="A file whose first line is the passphrase (mode 600): the daily "
        "backups are then encrypted (Scrypt + AES-GCM). Unset: plain tar.gz, so keep `dir` private.",
    )
    at: time = Field(
        time(3, 30),
        description="Branch time of the daily backup; outside 02:00-03:00 "
        "(the hour daylight saving time skips or repeats).",
    )

    @field_validator("at")
    @classmethod
    def _outside_dst_hour(cls, value: time) -> time:
        if value.hour == 2:
            raise ValueError(
                "02:00-02:59 is skipped or repeated when daylight saving time changes; pick another time"
            )
        return value
