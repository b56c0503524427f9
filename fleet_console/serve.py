"""`openplus-door fleet serve` and `fleet user-add`: the console's entry points, called from the
branch's CLI group (controller/cli/fleet.py) with the parsed arguments.

Outside the console's layers, like controller.cli is outside the branch's: it builds the runtime,
starts the broker link and serves the pages until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from controller.api.server import ApiServer, ApiServerError
from controller.services.fleet.commands import KeyFileError
from controller.services.users import UserError, UserInputError
from controller.store.db import DatabaseError
from controller.system.logging_setup import configure_logging
from fleet_console.config import ConfigError, load_console_settings
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.web.app import create_console_app

log = logging.getLogger(__name__)
READY_LINE = "openplus-door fleet console on "


class ConsoleUsageError(Exception):
    """Printed as one line by the CLI (it turns this into its UsageError)."""


def open_runtime(args: argparse.Namespace) -> ConsoleRuntime:
    try:
        settings = load_console_settings(args.console_config)
        return ConsoleRuntime.open(settings, args.data_dir)
    except (ConfigError, KeyFileError, DatabaseError) as exc:
        raise ConsoleUsageError(str(exc)) from None


def serve(args: argparse.Namespace) -> int:
    configure_logging("info")  # as the branch's commands: journal format, card numbers masked
    runtime = open_runtime(args)
    if runtime.key is None:
        log.warning("no [console] key_file: the pages work, but nothing can be sent")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    server = ApiServer(create_console_app(runtime), args.host, args.port)
    runtime.start_link()
    try:
        server.start()
    except ApiServerError as exc:
        runtime.stop()
        raise ConsoleUsageError(str(exc)) from None
    print(f"{READY_LINE}http://{args.host}:{server.port}/", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
        runtime.stop()
    return 0


def user_add(args: argparse.Namespace, password: str) -> int:
    """A console user (the first admin, say) in the console's own database, audited there."""
    runtime = open_runtime(args)
    conn = runtime.connection()
    try:
        user = runtime.users(conn).create(args.username, password, args.role, "cli:fleet")
    except (UserError, UserInputError) as exc:
        raise ConsoleUsageError(str(exc)) from None
    finally:
        conn.close()
    print(f"console user {user.username} added with roles {', '.join(sorted(user.roles))}", file=sys.stderr)
    return 0
