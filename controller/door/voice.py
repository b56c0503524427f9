"""Spoken door messages, Dutch then English, played on a thread of their own.

Why: members who read little, older members and members who see badly hear what the door
says. Each message is a catalog key (`display.*`), and each key has a recording per language in
`<sounds_dir>/<lang>/<name>.wav` (`sound_name`): the library can replace any file with its own,
and `openplus-door sounds generate` makes the missing ones with espeak-ng.

The door never waits for a sound: `say` only posts to a bounded queue (the oldest waiting
message is dropped when the member has moved on), and one thread plays the files with the
configured command (`aplay -q -` by default, the WAV on its standard input, scaled to the
volume here). A missing file, a file that is no WAV, a player that is missing, fails or hangs
each becomes an `output_fault` event (once per file until it plays again), never an exception
on the door's side. Quiet hours play at `quiet_volume` (0: not at all).
"""

from __future__ import annotations

import array
import io
import logging
import shlex
import subprocess
import sys
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from controller.config.voice import VoiceSettings
from controller.domain.catalog import LANGUAGES
from controller.domain.clock import Clock, to_local
from controller.domain.events import OutputFaultReason
from controller.domain.messages import DoorMessage
from controller.door.observers import ObserverQueue
from controller.services.sounds import sound_name, sound_path

log = logging.getLogger(__name__)

PLAY_MARGIN_SECONDS = 5.0  # a player may take this much longer than the sound before it is killed

# (reason, detail): the event the voice wants logged; BranchService makes it an output_fault.
FaultSink = Callable[[OutputFaultReason, str], None]


class SoundError(Exception):
    """A sound that could not be played, with the event reason that says why."""

    def __init__(self, reason: OutputFaultReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Player(Protocol):
    """Plays one WAV file at `volume` percent and returns when it is done; raises SoundError."""

    def play(self, path: Path, volume: int) -> None: ...


def scaled_wav(path: Path, volume: int) -> tuple[bytes, float]:
    """The WAV file's bytes with the samples scaled to `volume` percent, and its length in s.

    16-bit and 8-bit PCM are scaled (espeak-ng writes 16-bit); other widths play as recorded.
    A file that is not a readable WAV raises SoundError(SOUND_BROKEN)."""
    try:
        with wave.open(str(path), "rb") as source:
            params = source.getparams()
            frames = source.readframes(params.nframes)
    except (wave.Error, EOFError, OSError, ValueError) as exc:
        raise SoundError(OutputFaultReason.SOUND_BROKEN, f"{path}: not a readable WAV file ({exc})") from None
    if params.nframes == 0 or params.framerate <= 0:
        raise SoundError(OutputFaultReason.SOUND_BROKEN, f"{path}: a WAV file without sound")
    seconds = params.nframes / params.framerate
    if volume < 100 and params.sampwidth == 2:
        samples = array.array("h", frames)
        if sys.byteorder == "big":
            samples.byteswap()  # WAV samples are little-endian
        samples = array.array("h", (sample * volume // 100 for sample in samples))
        if sys.byteorder == "big":
            samples.byteswap()
        frames = samples.tobytes()
    elif volume < 100 and params.sampwidth == 1:  # unsigned, silence at 128
        frames = bytes(128 + (byte - 128) * volume // 100 for byte in frames)
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setparams(params)
        target.writeframes(frames)
    return out.getvalue(), seconds


class CommandPlayer:
    """Runs `command` per file with the (volume-scaled) WAV on its standard input."""

    def __init__(self, command: str) -> None:
        self._command = command

    def play(self, path: Path, volume: int) -> None:
        data, seconds = scaled_wav(path, volume)
        args = [
            part.replace("{file}", str(path)).replace("{volume}", str(volume))
            for part in shlex.split(self._command)
        ]
        try:
            done = subprocess.run(
                args,
                input=data,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=seconds + PLAY_MARGIN_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SoundError(
                OutputFaultReason.PLAYER_FAILED,
                f"{args[0]} still playing {path.name} after {seconds + PLAY_MARGIN_SECONDS:.0f} s: stopped",
            ) from None
        except OSError as exc:
            raise SoundError(OutputFaultReason.PLAYER_FAILED, f"cannot run {args[0]}: {exc}") from None
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SoundError(
                OutputFaultReason.PLAYER_FAILED,
                f"{args[0]} exited with {done.returncode} on {path.name}" + (f": {said[-1]}" if said else ""),
            )


class Voice:
    """Speaks door messages and announcements; `say` returns at once, from any thread."""

    def __init__(
        self,
        settings: VoiceSettings,
        player: Player,
        on_fault: FaultSink,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._dir = settings.sounds
        self.player = player  # replaceable: tests record instead of playing
        self._on_fault = on_fault
        self._clock = clock
        self._queue = ObserverQueue(queue_size=settings.queue_size, name="door-voice")
        self._reported: set[tuple[OutputFaultReason, str]] = set()

    @classmethod
    def from_settings(cls, settings: VoiceSettings, on_fault: FaultSink, clock: Clock) -> Voice:
        return cls(settings, CommandPlayer(settings.command), on_fault, clock)

    # --- any thread ------------------------------------------------------------------------------
    def say(self, message: DoorMessage) -> None:
        """Queue a door message (one without a catalog key has no recording and is skipped)."""
        name = sound_name(message)
        if name is not None:
            self._queue.post(self._speak, name)

    def start(self) -> None:
        self._queue.start()

    def stop(self, timeout: float = 0.5) -> None:
        self._queue.stop(timeout)

    def run_pending(self) -> None:
        """Play what is queued on the caller's thread (tests: the thread was not started)."""
        self._queue.run_pending()

    def wait_idle(self, timeout: float) -> bool:
        return self._queue.wait_idle(timeout)

    # --- the voice's thread ----------------------------------------------------------------------
    def _speak(self, name: str) -> None:
        volume = self._settings.volume_at(to_local(self._clock()).time())
        if volume == 0:
            return  # quiet hours
        for lang in LANGUAGES:  # Dutch, then English
            path = sound_path(self._dir, lang, name)
            if not path.is_file():
                self._fault(
                    OutputFaultReason.SOUND_MISSING,
                    f"{lang}/{name}.wav",
                    f"no sound file {path} (openplus-door sounds generate makes it)",
                )
                continue
            try:
                self.player.play(path, volume)
            except SoundError as exc:
                self._fault(exc.reason, f"{lang}/{name}.wav", str(exc))
                continue
            self._reported = {
                (reason, file) for reason, file in self._reported if file != f"{lang}/{name}.wav"
            }

    def _fault(self, reason: OutputFaultReason, file: str, detail: str) -> None:
        """Log every time; an event once per file and kind until that file plays again."""
        log.warning("voice: %s", detail)
        if (reason, file) in self._reported:
            return
        self._reported.add((reason, file))
        self._on_fault(reason, detail)
