"""`openplus-door`: one console command with subcommands for staff, IT and the simulator.

At the top this module imports only modules that need nothing beyond the standard library; each
command's own module is imported only when that command runs. `relay-off` (systemd, on every
stop) must not wait seconds for FastAPI, OpenCV and pydantic, nor fail because an unrelated
config key is wrong, so main() runs it before loading the settings.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import importlib
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cli.fleet import add_parsers as add_fleet_parsers
from controller.cli.install import add_parsers as add_install_parsers
from controller.domain.clock import BRANCH_TZ, to_utc
from controller.domain.modes import DoorMode
from controller.domain.pins import PinFormatError, PinKeyError, validate_pin
from controller.domain.roles import Role

if TYPE_CHECKING:
    from controller.config.settings import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]
MODES = [mode.value for mode in DoorMode]  # the choices of --mode, from the enum itself


class UsageError(Exception):
    """A command-line value that cannot be used; printed without a traceback."""


@dataclass(frozen=True)
class LazyHandler:
    """A command handler imported from `module` only when its command runs."""

    module: str
    name: str

    def __call__(self, args: argparse.Namespace, settings: Settings) -> int:
        handler: Handler = getattr(importlib.import_module(self.module), self.name)
        return handler(args, settings)


class _LazyCommands:
    """`cmd.check_config` reads like the module attribute it stands for, without the import."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> LazyHandler:
        return LazyHandler(self._module, name)


def _local_time(text: str) -> datetime:
    """'2026-03-29 02:30' in branch time (Europe/Amsterdam), or ISO with an offset."""
    moment = datetime.fromisoformat(text)
    return to_utc(moment if moment.tzinfo else moment.replace(tzinfo=BRANCH_TZ))


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def read_pin(args: argparse.Namespace, confirm: bool = True) -> str:
    """A PIN from stdin (--pin-stdin, for scripts) or typed twice without echo; never an argument."""
    if getattr(args, "pin_stdin", False):
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass("PIN: ")
        if confirm and getpass.getpass("PIN again: ") != pin:
            raise UsageError("the two PINs differ")
    try:
        return validate_pin(pin)
    except PinFormatError as exc:
        raise UsageError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    cmd = _LazyCommands("controller.cli.commands")
    run = _LazyCommands("controller.cli.run")

    parser = argparse.ArgumentParser(
        prog="openplus-door", description="Open+ door controller for a library branch."
    )
    parser.add_argument(
        "--config", type=Path, help="configuration file (TOML); default: none, or $OPENPLUS_DOOR_CONFIG"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "check-config", help="validate the configuration and show the data directory"
    ).set_defaults(run=cmd.check_config)

    members = sub.add_parser("members", help="the Open+ member list").add_subparsers(
        dest="members_command", required=True, metavar="ACTION"
    )
    p = members.add_parser("import", help="replace the list from a library-system CSV export")
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="check and count, change nothing")
    p.set_defaults(run=cmd.members_import)
    p = members.add_parser("add", help="add one member or staff card")
    p.add_argument("patron_id")
    p.add_argument("--card", action="append", required=True, help="card number (repeatable)")
    p.add_argument("--name", required=True, help="display name or initials")
    age = p.add_mutually_exclusive_group(required=True)
    age.add_argument("--birth-date", type=_day, help="YYYY-MM-DD (only the 18th birthday is kept)")
    age.add_argument("--adult", action="store_true", help="18 or over (no birth date kept)")
    p.add_argument(
        "--registered", type=_day, default=None, help="day the Open+ rules were accepted (default: today)"
    )
    p.add_argument("--not-registered", action="store_true")
    p.add_argument("--valid-until", type=_day, help="default: a year from today")
    p.add_argument("--staff", action="store_true", help="staff or cleaner card")
    p.add_argument(
        "--guardian-consent",
        action="store_true",
        help="a guardian consented (a minor, under the library system's rules)",
    )
    p.add_argument("--more-time", action="store_true", help="longer unlock and held-open times at the door")
    p.add_argument("--no-pin", action="store_true", help="add without a PIN (set it later)")
    p.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    p.set_defaults(run=cmd.members_add)
    p = members.add_parser("remove", help="remove a member")
    p.add_argument("patron_id")
    p.set_defaults(run=cmd.members_remove)
    p = members.add_parser("block", help="bar a member from entering")
    p.add_argument("patron_id")
    p.add_argument("--until", type=_day, help="last blocked day (default: until unblocked)")
    p.add_argument("--note", help="why (shown to security and managers; one line, at most 200 characters)")
    p.set_defaults(run=cmd.members_block)
    p = members.add_parser("flags", help="set a guardian's consent or more time at the door")
    p.add_argument("patron_id")
    p.add_argument(
        "--guardian-consent",
        choices=("yes", "no"),
        help="a guardian consented (a minor, under the library system's rules)",
    )
    p.add_argument("--more-time", choices=("yes", "no"), help="longer unlock and held-open times at the door")
    p.set_defaults(run=cmd.members_flags)
    p = members.add_parser("unblock", help="lift an entry block")
    p.add_argument("patron_id")
    p.set_defaults(run=cmd.members_unblock)
    p = members.add_parser("set-pin", help="set a member's PIN (typed twice, never shown)")
    p.add_argument("patron_id")
    p.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    p.set_defaults(run=cmd.members_set_pin)
    p = members.add_parser("list", help="list or search members (cards shown as hints)")
    p.add_argument("--search", default="", help="patron id, name part or full card number")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=cmd.members_list)

    p = sub.add_parser("demo-members", help="replace the list with N generated demo members")
    p.add_argument("count", type=int)
    p.set_defaults(run=cmd.demo_members_command)

    p = sub.add_parser("decide", help="run one access decision, as the door would, and log it")
    p.add_argument("--card", required=True)
    p.add_argument("--pin", help="for demos and tests; omit to be asked without echo")
    p.add_argument("--mode", choices=MODES, default=DoorMode.OPENPLUS.value)
    p.add_argument("--at", type=_local_time, help="branch time, e.g. '2026-03-29 02:30'")
    p.add_argument("--reader", default="cli")
    p.set_defaults(run=cmd.decide)

    events = sub.add_parser("events", help="the event log").add_subparsers(
        dest="events_command", required=True, metavar="ACTION"
    )
    p = events.add_parser("list", help="newest events first, in branch time")
    p.add_argument("--since", type=_local_time)
    p.add_argument("--member")
    p.add_argument("--type")
    p.add_argument("--reason")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(run=cmd.events_list)
    p = events.add_parser("purge", help="delete events older than the retention period now")
    p.set_defaults(run=cmd.events_purge)

    p = sub.add_parser("simulate", help="run a simulated branch on this machine")
    p.add_argument("--members", type=int, default=200, help="demo members to create if none")
    p.add_argument(
        "--mode",
        choices=["schedule", *MODES],
        default=DoorMode.OPENPLUS.value,
        help="door mode to start in; `schedule` follows the stored opening schedule "
        "(default: openplus, so demo cards work at once)",
    )
    p.add_argument(
        "--exit-at-eof",
        action="store_true",
        help="stop when standard input ends (scripts); default: keep serving",
    )
    _web_address(p)
    p.add_argument("--no-api", action="store_true", help="simulate the door without the web process")
    p.add_argument(
        "--lms",
        action="store_true",
        help="check every card and PIN with a demo library system (a SIP2 server on a "
        "free loopback port that knows the demo members); `lms down` / `lms up` at "
        "the console stop and start it",
    )
    p.add_argument(
        "--screen-port",
        type=_port,
        metavar="PORT",
        help="serve the door screen page on 127.0.0.1:PORT (0 picks a free port); "
        "the URL is printed at start (default: as [screen] in the config says)",
    )
    p.set_defaults(run=run.simulate)

    p = sub.add_parser(
        "serve", help="run the door on the real hardware (the door alone; the pages and API are `web`)"
    )
    p.set_defaults(run=run.serve, exit_at_eof=False, no_api=True)

    p = sub.add_parser("web", help="run the admin API and web pages (apart from the door process)")
    _web_address(p)
    p.add_argument("--under-simulate", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=LazyHandler("controller.cli.web", "web"))

    sub.add_parser("relay-off", help="drive the lock pin to locked (systemd ExecStopPost)").set_defaults(
        run=None
    )  # main() runs it without loading the settings

    pins = sub.add_parser("pins", help="member PINs as a whole").add_subparsers(
        dest="pins_command", required=True, metavar="ACTION"
    )
    p = pins.add_parser(
        "reset-all",
        help="clear every member's PIN and bind the PIN key now in "
        "the data directory (or a new one): when the key is lost",
    )
    p.add_argument("--yes", action="store_true", help="really clear them (required)")
    p.set_defaults(run=cmd.pins_reset_all)

    sounds = sub.add_parser("sounds", help="the voice's sound files").add_subparsers(
        dest="sounds_command", required=True, metavar="ACTION"
    )
    p = sounds.add_parser("generate", help="make the missing ones with espeak-ng ([voice] sounds_dir)")
    p.add_argument("--force", action="store_true", help="also replace the ones already there")
    p.set_defaults(run=LazyHandler("controller.cli.sounds", "sounds_generate"))

    backups = LazyHandler("controller.cli.backup", "backup"), LazyHandler("controller.cli.backup", "restore")
    p = sub.add_parser("backup", help="write one archive of the database, PIN key and config file")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        help="archive to write (default: ./openplus-door-<UTC time>.tar.gz, .tar.gz.enc when encrypted)",
    )
    p.add_argument("--passphrase-file", type=Path, help="encrypt with the first line of this file (mode 600)")
    p.set_defaults(run=backups[0])
    p = sub.add_parser(
        "restore",
        help="put a backup's database, PIN key and config (--config) in place; stop the services first",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--passphrase-file", type=Path, help="the passphrase it was encrypted with")
    p.set_defaults(run=backups[1])

    stats = sub.add_parser("stats", help="the statistics kept beyond the event log").add_subparsers(
        dest="stats_command", required=True, metavar="ACTION"
    )
    stats.add_parser("rollup", help="count the access events not yet in the statistics").set_defaults(
        run=LazyHandler("controller.cli.statistics", "stats_rollup")
    )

    privacy = sub.add_parser("privacy", help="a member's data request (AVG/GDPR)").add_subparsers(
        dest="privacy_command", required=True, metavar="ACTION"
    )
    p = privacy.add_parser("export", help="everything held on a member, as JSON")
    p.add_argument("patron_id")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    p.set_defaults(run=LazyHandler("controller.cli.privacy", "privacy_export"))
    p = privacy.add_parser(
        "erase",
        help="remove a member, pseudonymise their events, delete their clips not kept for an incident",
    )
    p.add_argument("patron_id")
    p.add_argument("--yes", action="store_true", help="really erase (required)")
    p.set_defaults(run=LazyHandler("controller.cli.privacy", "privacy_erase"))

    users = sub.add_parser("users", help="admin users of the API and pages").add_subparsers(
        dest="users_command", required=True, metavar="ACTION"
    )
    p = users.add_parser("add", help="add a user (the password is typed twice, never shown)")
    p.add_argument("username")
    p.add_argument(
        "--role", action="append", required=True, choices=[role.value for role in Role], help="repeatable"
    )
    p.add_argument("--password-stdin", action="store_true", help="read it from standard input")
    p.set_defaults(run=cmd.users_add)
    add_install_parsers(sub)  # install, doctor
    add_fleet_parsers(sub)  # fleet keygen, ...
    return parser


def _web_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address of the API and pages")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")


FILE_MODE_MASK = 0o077  # what we write is for our own user: card numbers, names, digests


def main(argv: Sequence[str] | None = None) -> int:
    # First, before anything is written: a hand-started `serve` or `simulate` (umask 022) must
    # not leave the database, WAL or footage readable by everyone (systemd sets UMask=0077).
    os.umask(FILE_MODE_MASK)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "relay-off":
        from controller.door.relay_off import run as relay_off

        return relay_off(args.config)
    if args.command == "install":  # before any virtualenv exists: the standard library only
        from controller.cli.install import install

        return install(args)
    from controller.config.settings import ConfigError, load_settings
    from controller.services.runtime import DB_FILE
    from controller.store.db import DatabaseError, database_error

    try:
        settings = load_settings(args.config)
        return args.run(args, settings)
    except (ConfigError, DatabaseError, PinKeyError, UsageError) as exc:
        print(f"openplus-door: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # the database became unusable after it was opened
        unusable = database_error(settings.data_dir / DB_FILE, exc)
        if unusable is None:
            raise
        print(f"openplus-door: {unusable}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None or exc.errno not in _PATH_ERRNOS:
            raise
        print(f"openplus-door: {exc.filename}: {exc.strerror}; {_path_advice()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# A file or directory the command cannot use as it is: one line, not a traceback.
_PATH_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENOSPC,
}


def _path_advice() -> str:
    from controller.store.db import this_user

    return (
        f"the data and footage directories must be writable for {this_user()} "
        "(chown/chmod them, or run as their owner)"
    )


def actor() -> str:
    """Who runs this command, for audit events."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


if __name__ == "__main__":
    # Run the module's importable copy, not this `__main__` one, so that the UsageError the
    # command modules raise (imported from controller.cli.main) is the one main() catches.
    from controller.cli.main import main as cli_main

    sys.exit(cli_main())
