"""`openplus-door fleet simulate --branches N`: N simulated controllers in this process,
publishing to the fleet's broker, for the demo and for trying a console (issue 17).

The controllers are controller/sim/fleet.py's (the tests and bench/fleet.py run the same code):
each has its own database under --data-dir (a temporary directory, removed at the end, unless
given), the door's event writer, a real FleetPublisher and the command subscriber (commands
signed by the key whose public half is --command-key are applied and acknowledged); entries
come in real time at --rate per branch. The broker is [fleet] host/port/tls/credentials, or
--host/--port/--no-tls, or with --local-broker a Mosquitto of its own on a free loopback port
(Debian's mosquitto). All the simulated branches use the one [fleet] username: a broker whose
ACL gives each branch its own user lets only one of them in. As cli/fleet.py, which adds these
arguments to its group, it imports only the standard library at the top.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.config.fleet import FleetSettings
    from controller.config.settings import Settings

MAX_BRANCHES = 500
MAX_RATE = 600
CONNECT_SECONDS = 10.0
DRAIN_SECONDS = 10.0


def branches(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_BRANCHES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of branches from 1 to {MAX_BRANCHES}")
    return count


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_RATE:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of attempts per minute from 0 to {MAX_RATE}"
        )
    return value


def add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--branches", type=branches, default=50, metavar="N", help=f"how many (1..{MAX_BRANCHES})")
    p.add_argument(
        "--rate", type=rate, default=2.0, metavar="N", help=f"attempts per branch per minute (0..{MAX_RATE})"
    )
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (default: Ctrl-C)")
    p.add_argument("--data-dir", type=Path, help="the branches' databases (default: a temporary directory)")
    p.add_argument("--host", help="the broker (default: [fleet] host)")
    p.add_argument("--port", type=int, help="its port (default: [fleet] port)")
    p.add_argument("--no-tls", action="store_true", help="plain MQTT (a broker on loopback)")
    p.add_argument(
        "--command-key",
        type=Path,
        metavar="FILE",
        help="the fleet's public key (fleet.pub) the branches accept commands signed by "
        "(default: [fleet] command_key_file; without one every command is refused)",
    )
    p.add_argument(
        "--local-broker",
        action="store_true",
        help="start a Mosquitto of its own on loopback (--port, else a free one) and use it",
    )


class SimulateError(Exception):
    """What keeps the simulation from starting; one line, no traceback. (Not main.UsageError:
    main imports the fleet group, which imports this module, so importing main back would
    make an import cycle.)"""


@contextmanager
def _local_broker(port: int | None) -> Iterator[int]:
    from controller.sim.mosquitto import Mosquitto, MosquittoError, mosquitto_binary

    binary = mosquitto_binary()
    if binary is None:
        raise SimulateError("--local-broker needs Mosquitto: sudo apt-get install mosquitto")
    with tempfile.TemporaryDirectory(prefix="openplus-fleet-broker-") as config_dir:
        broker = Mosquitto(binary, Path(config_dir), port=port)
        try:
            broker.start()
        except MosquittoError as exc:
            raise SimulateError(str(exc)) from None
        try:
            yield broker.port
        finally:
            broker.stop_process()


def _broker_settings(args: argparse.Namespace, settings: Settings, local_port: int | None) -> FleetSettings:
    update: dict[str, object] = {"enabled": True}
    if args.command_key is not None:
        update["command_key_file"] = args.command_key
    if local_port is not None:
        update |= {"host": "127.0.0.1", "port": local_port, "tls": False}
    else:
        if args.host:
            update["host"] = args.host
        if args.port:
            update["port"] = args.port
        if args.no_tls:
            update["tls"] = False
    return settings.fleet.model_copy(update=update)


def simulate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return _simulate(args, settings)
    except SimulateError as exc:
        print(f"openplus-door: {exc}", file=sys.stderr)
        return 2


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from controller.domain.clock import utc_now
    from controller.services.fleet.commands import KeyFileError, load_public_key
    from controller.sim.fleet import SimFleet

    if args.port is not None and not 1 <= args.port <= 65535:
        raise SimulateError(f"--port {args.port} is not a port (1..65535)")
    if args.seconds < 0:
        raise SimulateError(f"--seconds {args.seconds:g} is negative")
    if args.command_key is not None:
        try:
            load_public_key(args.command_key)
        except KeyFileError as exc:
            raise SimulateError(f"--command-key: {exc}") from None
    with ExitStack() as stack:
        local_port = stack.enter_context(_local_broker(args.port)) if args.local_broker else None
        fleet_settings = _broker_settings(args, settings, local_port)
        data_dir = args.data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="openplus-fleet-sim-"))
        )
        fleet = SimFleet(data_dir, args.branches, fleet_settings, utc_now)
        where = f"{fleet_settings.host}:{fleet_settings.port}{'' if fleet_settings.tls else ' (no TLS)'}"
        first, last = fleet.controllers[0].branch, fleet.controllers[-1].branch
        print(f"{len(fleet)} simulated branches {first}..{last}, data in {data_dir}")
        print(f"publishing to {where} under {fleet_settings.topic_prefix}/<branch>/...")
        fleet.start()
        stop = threading.Event()
        timer = threading.Timer(args.seconds, stop.set)
        timer.daemon = True
        try:
            if args.seconds:
                timer.start()
            if not fleet.wait_connected(min(CONNECT_SECONDS, args.seconds or CONNECT_SECONDS)):
                print(f"not all connected yet ({fleet.status()}); going on, they keep trying")
            fleet.run(args.rate, stop, report=print)
        except KeyboardInterrupt:
            print("stopping (Ctrl-C)")
        finally:
            timer.cancel()
            stop.set()
            if not fleet.drain(DRAIN_SECONDS):
                print("stopping with events not yet acknowledged (they stay in the outboxes)")
            print(f"stopping: {fleet.status()}")
            fleet.stop()
    return 0
