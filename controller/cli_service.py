"""The long-running commands: `serve` (real pins) and `simulate` (mock pins, ptys)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import Callable

from controller.api.app import create_app
from controller.api.server import ApiServer, ApiServerError
from controller.api.services import ApiServices
from controller.cli import UsageError
from controller.cli_commands import demo_members_command
from controller.config import Settings
from controller.hardware import HardwareError
from controller.logging_setup import configure_logging
from controller.modes import DoorMode
from controller.runtime import Runtime
from controller.schedule import load_schedule_file
from controller.service import BranchService
from controller.store.db import transaction
from controller.store.schedule import ScheduleStore, load_schedule
from controller.users import create_user

EXAMPLE_SCHEDULE = Path(__file__).resolve().parent.parent / "config" / "beilen-schedule.json"
DEMO_USERS = {"admin": ["admin"], "manager": ["manager"], "security": ["security"]}
DEMO_PASSWORD = "openplus-demo"  # simulated branch on 127.0.0.1 only; README says so


def simulate(args: argparse.Namespace, settings: Settings) -> int:
    """The simulated branch: demo data, mock pins and ptys, the real service, a console, the API."""
    from controller.sim_console import HELP, Console
    from controller.simulator import SimulatedHardware

    configure_logging(settings.logging.level)
    _demo_data(args, settings)
    sim = SimulatedHardware.create(settings, camera_video=settings.data_dir / "demo-camera.avi")
    mode = None if args.mode == "schedule" else DoorMode(args.mode)
    banner = (f"Simulated branch '{settings.branch.name}' running; data in {settings.data_dir}.\n"
              f"Demo sign-in: admin, manager or security, password {DEMO_PASSWORD}.\n"
              f"Type `help` for commands.\n{HELP}")
    return _run(sim.settings, args, pin_factory=sim.factory, mode=mode, banner=banner,
                console=lambda service: Console(service, sim, print), cleanup=sim.close)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """The real door: gpiozero's default pin factory (lgpio on a Pi) and the configured ports."""
    configure_logging(settings.logging.level)
    return _run(settings, args, pin_factory=None, mode=None, console=None, cleanup=None,
                banner=f"openplus-door serving '{settings.branch.name}'")


def _demo_data(args: argparse.Namespace, settings: Settings) -> None:
    """First run of the simulator: demo members, demo users, the Beilen example schedule."""
    runtime = Runtime.open(settings)
    with closing(runtime.connection()) as conn:
        no_members = runtime.members(conn).count() == 0
        no_users = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
        store = ScheduleStore(conn)
        if store.load().is_default and EXAMPLE_SCHEDULE.is_file():
            with transaction(conn):
                store.save(load_schedule_file(EXAMPLE_SCHEDULE), runtime.clock(), "simulate")
    if no_members:
        args.count = args.members
        demo_members_command(args, settings)
    if no_users:
        for name, roles in DEMO_USERS.items():
            create_user(runtime, name, DEMO_PASSWORD, roles, "simulate")


def _run(settings: Settings, args: argparse.Namespace, *, pin_factory, mode: DoorMode | None,
         console: Callable | None, banner: str, cleanup: Callable[[], None] | None) -> int:
    def stop_on_signal(signum, frame):  # SIGTERM from systemd, like Ctrl-C
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_on_signal)
    runtime = Runtime.open(settings)
    with closing(runtime.connection()) as conn:
        schedule = load_schedule(conn)
    try:
        service = BranchService(settings, schedule, pin_factory=pin_factory, mode_override=mode)
    except HardwareError as exc:
        raise UsageError(str(exc)) from None
    server = None
    try:
        person = console(service) if console is not None else None
        service.start()
        if not args.no_api:
            server = ApiServer(create_app(ApiServices(
                runtime=service.runtime, door=service, schedule_changed=service.schedule_changed,
                footage=service.footage)), args.host, args.port)
            server.start()
            banner += f"\nAdmin API and pages: http://{args.host}:{server.port}/ " \
                      f"(API docs: /docs)"
        print(banner, flush=True)
        if person is not None:
            person.run(sys.stdin, prompt=sys.stdin.isatty())
        if person is None or not args.exit_at_eof:
            threading.Event().wait()  # serve until a signal
    except ApiServerError as exc:
        raise UsageError(f"{exc}: http://{args.host}:{args.port}") from None
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        service.stop()
        if cleanup is not None:
            cleanup()
        print("stopped; relay locked", flush=True)
    return 0
