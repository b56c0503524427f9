"""`openplus-door install` and `openplus-door doctor`: put the service on a Pi, then check it.

`install` runs before any settings are loaded and imports only the standard library (main()
dispatches it like `relay-off`): on a fresh Pi it runs from the checkout with the system's
python3 (`sudo python3 -m controller.cli install`), before the virtual environment it creates
exists. `doctor` is an ordinary command: it reads the installed config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from controller.services.install import (
    CONFIG_DIR,
    CONFIG_NAME,
    Installer,
    InstallError,
    InstallOptions,
    Status,
    changed,
)

if TYPE_CHECKING:
    from controller.config.settings import Settings

INSTALLED_CONFIG = CONFIG_DIR / CONFIG_NAME


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `install` and `doctor` subcommands (main.build_parser calls this)."""
    p = sub.add_parser(
        "install",
        help="install (or bring up to date) the service on this Pi: "
        "user, virtualenv, data dir, config, systemd units; safe to run again",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        help="target root (default /; another folder lays the files out there and "
        "only plans useradd, chown and systemctl: for tests and images)",
    )
    p.add_argument(
        "--source",
        type=Path,
        default=InstallOptions().source,
        help="the openplus-door checkout to install (default: this one)",
    )
    p.add_argument(
        "--skip-venv", action="store_true", help="do not create the virtualenv or run pip (test layouts)"
    )
    p.add_argument(
        "--no-kiosk",
        action="store_true",
        help="leave out the door screen's kiosk unit (a branch without a screen)",
    )
    p.add_argument("--python", default="python3", help="the Python that creates the virtualenv")
    p.set_defaults(run=None)  # main() runs it without loading the settings

    p = sub.add_parser(
        "doctor",
        help="check this install: pins, serial ports, camera, library "
        "system, clock, disk; prints what to fix, exit 1 on any failure",
    )
    p.set_defaults(run=doctor)


def install(args: argparse.Namespace) -> int:
    options = InstallOptions(
        root=args.root,
        source=args.source,
        skip_venv=args.skip_venv,
        kiosk=not args.no_kiosk,
        python=args.python,
    )
    installer = Installer(options)
    where = (
        "this machine"
        if installer.live
        else (f"the scratch root {args.root} (useradd, chown and systemctl are only planned there)")
    )
    print(f"openplus-door install: onto {where}")
    try:
        steps = installer.install()
    except InstallError as exc:
        for step in installer.steps:
            print(f"  {step.status:<9} {step.what}")
        print(f"openplus-door install: {exc}", file=sys.stderr)
        return 2
    for step in steps:
        print(f"  {step.status:<9} {step.what}")
    planned = sum(step.status is Status.PLANNED for step in steps)
    count = changed(steps)
    summary = f"{count} created or updated" if count else "unchanged: everything was in place"
    if planned:
        summary += f"; {planned} planned (need the live system)"
    print(f"openplus-door install: {summary}")
    if installer.live and count:
        print(
            f"next: edit {INSTALLED_CONFIG}, then `sudo systemctl restart openplus-door "
            "openplus-door-web` and `sudo openplus-door doctor`"
        )
    return 0


def doctor(args: argparse.Namespace, settings: Settings) -> int:
    from controller.config.defaults import resolve_config_path
    from controller.config.settings import load_settings
    from controller.services.doctor import Doctor, render

    config = resolve_config_path(args.config)
    if config is None and INSTALLED_CONFIG.is_file():  # `sudo openplus-door doctor` on the Pi
        config, settings = INSTALLED_CONFIG, load_settings(INSTALLED_CONFIG)
    print(f"openplus-door doctor: config {config or '(none: the defaults)'}, data {settings.data_dir}")
    results = Doctor(settings).run()
    print(render(results))
    return 1 if any(result.failed for result in results) else 0
