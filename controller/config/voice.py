"""The `[voice]` section: spoken door messages and Open+ announcements, Dutch then English.

Off by default: a door without a speaker must not run a player at every message. With it on,
every door message (the prompts, each refusal, the closing warnings of `[door]
closing_warning_minutes`) and the mode announcements below are played from
`<sounds_dir>/<nl|en>/<name>.wav`; `openplus-door sounds generate` makes the missing ones with
espeak-ng, and a library may put its own recordings there instead.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import Field, model_validator

from controller.config.section import Section

# The repository's config/sounds: where `./dev` generates the default sounds (the Pi install
# is a clone in /opt/openplus-door, so this is /opt/openplus-door/config/sounds there).
DEFAULT_SOUNDS_DIR = Path(__file__).resolve().parents[2] / "config" / "sounds"


class VoiceSettings(Section):
    """Which sounds play, how loud, and when the entrance stays quiet."""

    enabled: bool = Field(False, description="Speak door messages and announcements.")
    sounds_dir: Path | None = Field(
        None, description="Holds nl/<name>.wav and en/<name>.wav; default: config/sounds of the installation."
    )
    command: str = Field(
        "aplay -q -",
        min_length=1,
        max_length=500,
        description="Plays one WAV given on its standard input ({file} and {volume} are "
        "replaced by the file's path and the volume 0-100, for a player that wants them).",
    )
    volume: int = Field(80, ge=0, le=100, description="Loudness in percent of the recording.")
    quiet_from: time | None = Field(None, description="Branch-local start of quiet hours, e.g. '22:00'.")
    quiet_until: time | None = Field(None, description="Branch-local end of quiet hours, e.g. '07:00'.")
    quiet_volume: int = Field(0, ge=0, le=100, description="Loudness in quiet hours (0: silent).")
    announce_openplus_start: bool = Field(True, description="Say so when Open+ begins.")
    repeat_minutes: int = Field(
        0, ge=0, le=240, description="During Open+, repeat the Open+ announcement this often (0: never)."
    )
    announce_closed: bool = Field(True, description="Say so when Open+ ends and the branch closes.")
    queue_size: int = Field(
        3, ge=1, le=50, description="Messages waiting to be spoken; older ones are dropped."
    )

    @model_validator(mode="after")
    def _quiet_hours_whole(self) -> VoiceSettings:
        if (self.quiet_from is None) != (self.quiet_until is None):
            raise ValueError("quiet_from and quiet_until go together")
        if self.quiet_from is not None and self.quiet_from == self.quiet_until:
            raise ValueError(
                "quiet_from and quiet_until are the same time: no quiet hours, or "
                "all day? leave both out, or set volume"
            )
        return self

    @property
    def sounds(self) -> Path:
        """The sounds directory, ~ expanded."""
        return (self.sounds_dir or DEFAULT_SOUNDS_DIR).expanduser()

    def is_quiet(self, local: time) -> bool:
        """Whether a branch-local time of day is in the quiet hours (which may span midnight)."""
        start, end = self.quiet_from, self.quiet_until
        if start is None or end is None:
            return False
        local = local.replace(tzinfo=None)
        return start <= local < end if start < end else (local >= start or local < end)

    def volume_at(self, local: time) -> int:
        return self.quiet_volume if self.is_quiet(local) else self.volume
