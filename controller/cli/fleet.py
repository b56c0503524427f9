"""`openplus-door fleet ...`: the fleet's own commands (issue 17).

One `fleet` group; each subcommand is a function in SUBCOMMANDS that adds its parser to the
group, so `fleet serve` and `fleet simulate` are one function and one list entry each. Like
main.py this module imports only the standard library at the top: the handlers' modules
(cryptography, paho) load only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cli.fleet_simulate import add_simulate_arguments

if TYPE_CHECKING:
    from controller.config.settings import Settings


def lazy(module: str, name: str) -> Callable[[argparse.Namespace, Settings], int]:
    """The handler `name` of `module`, imported when the command runs."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        handler: Callable[[argparse.Namespace, Settings], int] = getattr(
            importlib.import_module(module), name
        )
        return handler(args, settings)

    return run


def add_keygen(fleet: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = fleet.add_parser(
        "keygen",
        help="make the fleet's signing key pair: fleet.key (console only, mode 600) and "
        "fleet.pub (every branch's [fleet] command_key_file)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write them to")
    p.set_defaults(run=lazy(__name__, "keygen"))


def add_simulate(fleet: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = fleet.add_parser(
        "simulate",
        help="run N simulated branches in this process, publishing to the fleet's broker (demo, tests)",
    )
    add_simulate_arguments(p)
    p.set_defaults(run=lazy("controller.cli.fleet_simulate", "simulate"))


def add_serve(fleet: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = fleet.add_parser(
        "serve", help="run the fleet console: every branch on one page, signed commands to many"
    )
    p.add_argument(
        "--console-config", type=Path, metavar="FILE", help="the console's TOML ([console], [broker])"
    )
    p.add_argument(
        "--data-dir", type=Path, help="the console's database directory (default: [console] data_dir)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address of the console's pages")
    p.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    p.set_defaults(run=lazy(__name__, "serve"))
    p = fleet.add_parser("user-add", help="add a fleet console user (the password is typed twice)")
    p.add_argument("username")
    p.add_argument("--role", action="append", required=True, choices=("manager", "security", "admin"))
    p.add_argument("--console-config", type=Path, metavar="FILE")
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--password-stdin", action="store_true", help="read it from standard input")
    p.set_defaults(run=lazy(__name__, "console_user_add"))


# Add a subcommand here: a function taking the `fleet` group's subparsers.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    add_keygen,
    add_simulate,
    add_serve,
]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `fleet` group (main.build_parser calls this)."""
    fleet = sub.add_parser("fleet", help="the fleet of branches over MQTT").add_subparsers(
        dest="fleet_command", required=True, metavar="ACTION"
    )
    for add in SUBCOMMANDS:
        add(fleet)


def refused(message: str) -> int:
    """A value the command cannot use, said as main() says a UsageError (exit 2). Not main's
    UsageError itself: main imports this module for add_parsers, and this one must not
    import main back (tests/test_layout.py: no import cycles)."""
    print(f"openplus-door: {message}", file=sys.stderr)
    return 2


def keygen(args: argparse.Namespace, settings: Settings) -> int:
    from controller.services.fleet.commands import KeyFileError, generate_keys

    try:
        private_path, public_path = generate_keys(args.out)
    except KeyFileError as exc:
        return refused(str(exc))
    print(f"private key: {private_path} (keep it on the console only; mode 600)")
    print(f"public key:  {public_path} (copy it to each branch: [fleet] command_key_file = ...)")
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """The console (fleet_console.serve); the branch's own config is not used."""
    from fleet_console.serve import ConsoleUsageError
    from fleet_console.serve import serve as serve_console

    try:
        return serve_console(args)
    except ConsoleUsageError as exc:
        return refused(str(exc))


def console_user_add(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from fleet_console.serve import ConsoleUsageError, user_add

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            return refused("the two passwords differ")
    try:
        return user_add(args, password)
    except ConsoleUsageError as exc:
        return refused(str(exc))
