"""The voice's sound files: which exist, and making the missing ones with espeak-ng.

Every door message has a catalog key (`display.*`, in controller/domain/strings/*.toml), and
each key has one recording per language: `<sounds_dir>/<lang>/<name>.wav`, `name` being the key
without `display.` and with its placeholder values appended (`closing_15`). A library may
record its own; `generate` makes only the missing ones (Debian's espeak-ng reads the catalog's
text: `-v nl`, `-v en`), or all of them with `force`. A file is written whole beside its place
and renamed in, so the door never plays half a file.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.domain.catalog import LANGUAGES, placeholders, render, texts
from controller.domain.messages import DoorMessage

DISPLAY_PREFIX = "display."
ESPEAK = "espeak-ng"
ESPEAK_VOICES = {"nl": "nl", "en": "en"}
ESPEAK_TIMEOUT_SECONDS = 30.0
# Sounds are not secrets: the door service's user reads what `sudo ./dev` made as root.
SOUND_FILE_MODE = 0o644
SOUND_DIR_MODE = 0o755


def sound_name(message: DoorMessage) -> str | None:
    """The file name (without .wav) for a door message: its `display.*` key without the prefix,
    each placeholder value appended (`display.closing` at 15 minutes -> `closing_15`); None for
    a message without a catalog key (one that came over the door link as text)."""
    if not message.key.startswith(DISPLAY_PREFIX):
        return None
    return "_".join([message.key.removeprefix(DISPLAY_PREFIX), *(value for _, value in message.values)])


def sound_path(sounds_dir: Path, lang: str, name: str) -> Path:
    return sounds_dir / lang / f"{name}.wav"


def spoken_messages(closing_minutes: Iterable[int]) -> dict[str, DoorMessage]:
    """Every message the door can speak, by sound name: each `display.*` key, and the closing
    warning once for each of the door's `closing_warning_minutes` (its one placeholder)."""
    found: dict[str, DoorMessage] = {}
    for key, text in sorted(texts("nl").items()):
        if not key.startswith(DISPLAY_PREFIX):
            continue
        wanted = placeholders(text)
        if not wanted:
            variants = [DoorMessage.of(key)]
        elif wanted == {"minutes"}:
            variants = [DoorMessage.of(key, minutes=minutes) for minutes in sorted(set(closing_minutes))]
        else:
            continue  # no value to speak it with; the voice then reports the file as missing
        for message in variants:
            name = sound_name(message)
            assert name is not None  # why: every key here starts with display.
            found[name] = message
    return found


class SoundsUnavailable(Exception):
    """espeak-ng is not installed, or failed: the message says what to do."""


@dataclass
class Generated:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # already there (the library's, or earlier)


Runner = Callable[[Sequence[str]], None]


def _run_espeak(args: Sequence[str]) -> None:
    try:
        done = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=ESPEAK_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SoundsUnavailable(f"{args[0]} failed: {exc}") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()
        raise SoundsUnavailable(f"{args[0]} exited with {done.returncode}: {said or 'no message'}")


def _readable_dir(path: Path) -> None:
    """Make `path` (and its parents) readable for everyone: the CLI runs with umask 077, and
    the door service's user must read what root generated at install time."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for made in missing:
        made.chmod(SOUND_DIR_MODE)


def espeak_available(espeak: str = ESPEAK) -> bool:
    return shutil.which(espeak) is not None


def generate(
    sounds_dir: Path,
    closing_minutes: Iterable[int],
    *,
    force: bool = False,
    espeak: str = ESPEAK,
    run: Runner = _run_espeak,
) -> Generated:
    """Write `<sounds_dir>/<lang>/<name>.wav` for every spoken message that has no file yet
    (every one with `force`), with espeak-ng reading the catalog's text in that language."""
    if shutil.which(espeak) is None:
        raise SoundsUnavailable(
            f"{espeak} is not installed (Debian: sudo apt-get install espeak-ng); "
            "or put your own recordings in " + str(sounds_dir)
        )
    result = Generated()
    for name, message in spoken_messages(closing_minutes).items():
        for lang in LANGUAGES:
            target = sound_path(sounds_dir, lang, name)
            if target.exists() and not force:
                result.kept.append(target)
                continue
            _readable_dir(target.parent)
            partial = target.with_name(f".{target.name}.partial")
            text = render(message.key, lang, **dict(message.values))
            try:
                run([espeak, "-v", ESPEAK_VOICES[lang], "-w", str(partial), text])
                partial.chmod(SOUND_FILE_MODE)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
            result.written.append(target)
    return result
