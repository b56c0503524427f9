"""`openplus-door sounds generate [--force]`: the voice's default recordings, made with espeak-ng.

Run at install time (`./dev` does when espeak-ng is there); a library's own recordings in the
sounds directory are kept unless --force.
"""

from __future__ import annotations

import argparse

from controller.cli.main import UsageError
from controller.config.settings import Settings
from controller.services.sounds import SoundsUnavailable, generate


def sounds_generate(args: argparse.Namespace, settings: Settings) -> int:
    sounds_dir = settings.voice.sounds
    try:
        done = generate(sounds_dir, settings.door.closing_warning_minutes, force=args.force)
    except SoundsUnavailable as exc:
        raise UsageError(str(exc)) from None
    print(
        f"{sounds_dir}: {len(done.written)} sound file(s) written, "
        f"{len(done.kept)} already there and kept" + ("" if args.force else " (--force replaces them)")
    )
    return 0
