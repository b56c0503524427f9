"""`openplus-door fleet ...`: the fleet's own commands (issue 17).

One `fleet` group; each subcommand is a function in SUBCOMMANDS that adds its parser to the
group, so `fleet serve` and `fleet simulate` are one function and one list entry each. Like
main.py this module imports only the standard library at the top: the handlers' modules
(cryptography, paho) load only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.config.settings import Settings

def lazy(module: str, name: str) -> Callable[[argparse.Namespace, Settings], int]:
    """The handler `name` of `module`, imported when the command runs."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        handler: Callable[[argparse.Namespace, Settings], int] = getattr(importlib.import_module(module), name)
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


# Add a subcommand here: a function taking the `fleet` group's subparsers.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [add_keygen]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `fleet` group (main.build_parser calls this)."""
    fleet = sub.add_parser("fleet", help="the fleet of branches over MQTT").add_subparsers(
        dest="fleet_command", required=True, metavar="ACTION"
    )
    for add in SUBCOMMANDS:
        add(fleet)


def keygen(args: argparse.Namespace, settings: Settings) -> int:
    from controller.cli.main import UsageError
    from controller.services.fleet.commands import KeyFileError, generate_keys

    try:
        private_path, public_path = generate_keys(args.out)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    print(f"private key: {private_path} (keep it on the console only; mode 600)")
    print(f"public key:  {public_path} (copy it to each branch: [fleet] command_key_file = ...)")
    return 0
