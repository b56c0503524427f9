"""The long-running commands: `serve` (the door alone, real pins) and `simulate` (mock pins,
ptys, the door in this process and the web pages as a child process).

The door process runs the readers, the door loop, the relay, the schedule and the camera
hand-off, plus the door link (controller/door/link_server.py) the web process talks to. It never
waits on the web side: `openplus-door web` (controller/cli/web.py) is another process.
Under systemd it says READY=1 when the door is up, STOPPING=1 when it stops, and the door loop
feeds the watchdog on every turn (controller/system/sd_notify.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from controller.cli.commands import demo_members_command
from controller.cli.main import UsageError
from controller.cli.web import WebChild, WebChildError
from controller.config.settings import Settings
from controller.domain.clock import local_date, utc_now
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule, load_schedule_file
from controller.door.branch import BranchService
from controller.door.hardware import HardwareError
from controller.door.link import link_path
from controller.door.link_server import DoorLinkError, DoorLinkServer
from controller.services.runtime import Runtime
from controller.services.use_cases import create_user
from controller.store.db import transaction
from controller.store.schedule import ScheduleStore, load_schedule
from controller.store.users import UserStore
from controller.system.logging_setup import configure_logging
from controller.system.sd_notify import Notifier, WatchdogFeeder

log = logging.getLogger(__name__)

# In the checkout (the README's install): <repo>/config/, beside the controller package.
EXAMPLE_SCHEDULE = Path(__file__).resolve().parents[2] / "config" / "beilen-schedule.json"
DEMO_USERS = {"admin": ["admin"], "manager": ["manager"], "security": ["security"]}
DEMO_PASSWORD = "openplus-demo"  # simulated branch on 127.0.0.1 only; README says so
STOP_SECONDS = 3.0  # SIGTERM to exit, whatever the web side does
WEB_STOP_BY = 2.0  # seconds into the stop by which the web child has had its SIGTERM time


def simulate(args: argparse.Namespace, settings: Settings) -> int:
    """The simulated branch: demo data, mock pins and ptys, the real service and a console in
    this process; the API and pages in a child process (`openplus-door web`)."""
    from controller.sim.console import Console, help_text
    from controller.sim.hardware import SimulatedHardware

    configure_logging(settings.logging.level)
    member_count = _demo_data(args, settings)
    sim = SimulatedHardware.create(settings, camera_video=settings.data_dir / "demo-camera.avi")
    mode = None if args.mode == "schedule" else DoorMode(args.mode)
    banner = (
        f"Simulated branch '{settings.branch.name}' running; data in {settings.data_dir}.\n"
        f"Demo sign-in: admin, manager or security, password {DEMO_PASSWORD}.\n"
        f"Type `help` for commands.\n{help_text(args.lms)}"
    )
    branch_settings, lms = _with_screen(sim.settings, args.screen_port), None
    if args.lms:  # pysip2 is imported only here: without --lms nothing changes
        from controller.sim.demo_lms import DemoLms

        lms = DemoLms(member_count, local_date(utc_now()), settings.lms.charset)
    try:
        if lms is not None:
            lms.start()
            branch_settings = lms.settings_for(branch_settings)
            banner += (
                "\n"
                + "\n".join(lms.demo_lines())
                + (f"\nOffline policy: {branch_settings.lms.offline_policy} (config [lms] offline_policy)")
            )
        return _run(
            branch_settings,
            args,
            pin_factory=sim.factory,
            mode=mode,
            banner=banner,
            console=lambda service: Console(service, sim, print, lms),
            cleanup=sim.close,
            web=not args.no_api,
        )
    finally:  # after the door has stopped (and with it its SIP2 connections)
        if lms is not None:
            lms.stop()


def _with_screen(settings: Settings, port: int | None) -> Settings:
    """`simulate --screen-port`: the door screen on that port (0: a free one), whatever [screen] says."""
    if port is None:
        return settings
    return settings.model_copy(
        update={"screen": settings.screen.model_copy(update={"enabled": True, "port": port})}
    )


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """The real door alone: gpiozero's default pin factory (lgpio on a Pi) and the configured
    ports. The web pages are `openplus-door web`, another process (and systemd unit)."""
    configure_logging(settings.logging.level)
    return _run(
        settings,
        args,
        pin_factory=None,
        mode=None,
        console=None,
        cleanup=None,
        banner=f"openplus-door serving '{settings.branch.name}'",
        web=False,
    )


def _demo_data(args: argparse.Namespace, settings: Settings) -> int:
    """First run of the simulator: demo members, demo users, the Beilen example schedule.
    Returns how many demo members there may be (what the demo library system should know)."""
    runtime = Runtime.open(settings)
    with closing(runtime.connection()) as conn:
        stored_members = runtime.members(conn).count()
        no_members = stored_members == 0
        no_users = UserStore(conn).count() == 0
        store = ScheduleStore(conn)
        if store.load().is_default:
            if EXAMPLE_SCHEDULE.is_file():
                with transaction(conn):
                    store.save(load_schedule_file(EXAMPLE_SCHEDULE), runtime.clock(), "simulate")
            else:  # installed without the checkout: the door stays closed until one is stored
                log.warning("no example schedule at %s: the simulated branch starts closed", EXAMPLE_SCHEDULE)
    if no_members:
        args.count = args.members
        demo_members_command(args, settings)
    if no_users:
        for name, roles in DEMO_USERS.items():
            create_user(runtime, name, DEMO_PASSWORD, roles, "simulate")
    return max(args.members, stored_members)


def _run(
    settings: Settings,
    args: argparse.Namespace,
    *,
    pin_factory,
    mode: DoorMode | None,
    console: Callable | None,
    banner: str,
    cleanup: Callable[[], None] | None,
    web: bool,
) -> int:
    def stop_on_signal(signum, frame):  # SIGTERM from systemd, or Ctrl-C: stop, once
        _ignore_stop_signals()  # a second one must not cut the stop (and the lock) short
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    notifier = Notifier.from_environment()
    runtime = Runtime.open(settings)
    with closing(runtime.connection()) as conn:
        schedule = load_schedule(conn)
    try:
        service = BranchService(
            settings,
            schedule,
            pin_factory=pin_factory,
            mode_override=mode,
            on_turn=WatchdogFeeder.from_environment(notifier),
        )
    except HardwareError as exc:
        raise UsageError(str(exc)) from None

    def reload_schedule() -> Schedule:  # the door link's schedule_changed: read what web saved
        with closing(service.runtime.connection()) as conn:
            return load_schedule(conn)

    link = DoorLinkServer(
        link_path(settings.data_dir), service, reload_schedule, between_members=service.between_members
    )
    web_child: WebChild | None = None
    try:
        person = console(service) if console is not None else None
        service.start()
        link.start()
        notifier.ready(f"door up; door link {link.path}")
        if service.screen is not None:
            banner += f"\nDoor screen: {service.screen.url}"
        if web:
            web_child = WebChild(settings, args.config, args.host, args.port, out=print)
            port = web_child.start()
            pid = web_child.process.pid if web_child.process is not None else "?"
            banner += (
                f"\nAdmin API and pages: http://{args.host}:{port}/ (API docs: /docs), "
                f"served by their own web process {pid}"
            )
        print(banner, flush=True)
        asked_to_quit = person is not None and person.run(sys.stdin, prompt=sys.stdin.isatty())
        if not asked_to_quit and (person is None or not args.exit_at_eof):
            threading.Event().wait()  # no console, or its input ended: serve until a signal
    except (DoorLinkError, WebChildError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        _stop(notifier, service, link, web_child, cleanup)
    return 0


def _stop(
    notifier: Notifier,
    service: BranchService,
    link: DoorLinkServer,
    web_child: WebChild | None,
    cleanup: Callable[[], None] | None,
) -> None:
    """The door first (BranchService.stop locks the relay, then stops the readers, then the
    rest), then the link, then the web child: within STOP_SECONDS whatever it does."""
    started = time.monotonic()
    _ignore_stop_signals()
    backstop = threading.Timer(STOP_SECONDS - 0.2, _give_up, args=(web_child,))
    backstop.daemon = True
    backstop.start()
    notifier.stopping()
    try:
        try:
            service.stop()
        finally:
            link.stop()
            if web_child is not None:  # by WEB_STOP_BY s into the stop, plus 0.5 s for SIGKILL
                web_child.stop(grace=max(0.2, WEB_STOP_BY - (time.monotonic() - started)))
            if cleanup is not None:
                cleanup()
    finally:
        backstop.cancel()
    print("stopped; relay locked", flush=True)


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)


def _give_up(web_child: WebChild | None) -> None:
    """The stop took too long: end the process (the relay was locked first; under systemd
    ExecStopPost drives it off again)."""
    log.error("stopping took over %.1f s; exiting now", STOP_SECONDS - 0.2)
    if web_child is not None and web_child.process is not None:
        web_child.process.kill()
    os._exit(1)
