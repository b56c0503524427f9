"""`openplus-door web`: the admin API and pages in their own process, apart from the door.

The web process reads and writes the database and talks to the door process only through
the door link (controller/door/link_client.py): live state, the audited remote unlock, and "the
schedule changed". It can crash, be OOM-killed or be restarted without the door noticing;
while the door is unreachable, /api/v1/door answers 503 and /api/v1/health says degraded.

`WebChild` is the other end: `openplus-door simulate` runs the web process as its child.
This module imports the web stack only inside `web()`, so the door process that starts the
child does not load FastAPI.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.config.settings import Settings, WebSettings
from controller.system.logging_setup import configure_logging

log = logging.getLogger(__name__)

READY_LINE = "openplus-door web: admin API and pages on "  # + the URL; WebChild waits for it
CHILD_NICE = 10  # the door comes first, also under the simulator
_URL = re.compile(r"http://(?P<host>\S+):(?P<port>\d+)/")


def web(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the admin API and pages until SIGTERM or SIGINT (or, under the simulator, until
    its parent goes away)."""
    from controller.cli.main import UsageError

    configure_logging(settings.logging.level)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if getattr(args, "under_simulate", False):
        os.nice(CHILD_NICE)
        threading.Thread(
            target=_stop_at_eof, args=(sys.stdin.fileno(), stop), name="parent-watch", daemon=True
        ).start()
    nice_the_session(os.nice(0))

    from controller.api.server import ApiServer, ApiServerError
    from controller.app import create_app
    from controller.door.link import link_path
    from controller.door.link_client import DoorLinkClient
    from controller.http.services import ApiServices
    from controller.services.runtime import Runtime
    from controller.services.use_cases import footage_service

    runtime = Runtime.open(settings)
    door = DoorLinkClient(link_path(settings.data_dir))
    footage = footage_service(runtime)  # not started: the web side only looks up clips, keep marks
    server = ApiServer(
        create_app(
            ApiServices(runtime=runtime, door=door, schedule_changed=door.schedule_changed, footage=footage)
        ),
        args.host,
        args.port,
        **proxy_options(settings.web),
    )
    try:
        server.start()
    except ApiServerError as exc:
        raise UsageError(f"{exc}: http://{args.host}:{args.port}") from None
    print(f"{READY_LINE}http://{args.host}:{server.port}/ (API docs: /docs)", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


def proxy_options(web: WebSettings) -> dict[str, Any]:
    """uvicorn's proxy-header options from `[web] trusted_proxies`.

    uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise (or from
    $FORWARDED_ALLOW_IPS), so any local process could pick the client address the sign-in
    throttle counts and the events record. With no proxies configured the headers are off."""
    trusted = [str(network) for network in web.trusted_proxies]
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}


def _stop_at_eof(fd: int, stop: threading.Event) -> None:
    """The simulator keeps our stdin open and never writes: end of file means it is gone.
    (os.read, not sys.stdin: a buffered reader's lock would trouble the interpreter's exit.)"""
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    stop.set()


# --- the simulator's side ----------------------------------------------------------------------
class WebChildError(Exception):
    """The web process did not come up."""


class WebChild:
    """`openplus-door web` as a child process of the simulator.

    The child gets the same configuration file and data directory, a pipe on stdin that ends
    when this process ends (so it never outlives us, even after SIGKILL), and lowers its own
    priority. Its output is passed through to ours; `port` is the port it serves on.
    """

    def __init__(
        self, settings: Settings, config: Path | None, host: str, port: int, out: Callable[[str], None]
    ) -> None:
        env = {
            name: value
            for name, value in os.environ.items()  # systemd's are the door's
            if name
            not in (
                "NOTIFY_SOCKET",
                "WATCHDOG_USEC",
                "WATCHDOG_PID",
                "LISTEN_FDS",
                "LISTEN_PID",
                "LISTEN_FDNAMES",
            )
        }
        env["OPENPLUS_DOOR_DATA_DIR"] = str(settings.data_dir)
        if config is not None:
            env["OPENPLUS_DOOR_CONFIG"] = str(config)
        root = str(Path(__file__).resolve().parents[2])  # the checkout, above controller/
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.command = [
            sys.executable,
            "-m",
            "controller.cli.main",
            "web",
            "--host",
            host,
            "--port",
            str(port),
            "--under-simulate",
        ]
        self._env = env
        self._out = out
        self._ready = threading.Event()
        self.port: int | None = None
        self._stopping = False
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> int:
        """Start the child and wait until it serves; its port. WebChildError if it does not."""
        # Its own session: a Ctrl-C at the terminal reaches the door, which locks first and
        # then stops the child; the stdin pipe ends it if we die without stopping it.
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=self._env,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        threading.Thread(target=self._pass_output, name="web-output", daemon=True).start()
        # The output thread sets _ready on the ready line, or when the child's output ends.
        if not self._ready.wait(timeout) or self.port is None:
            self.stop(grace=0.5)
            code = self.process.returncode
            raise WebChildError(
                "the web process did not start" + (f" (exit code {code})" if code is not None else "")
            )
        return self.port

    def _pass_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if not self._ready.is_set() and line.startswith(READY_LINE):
                match = _URL.search(line)
                if match:
                    self.port = int(match.group("port"))
                    self._ready.set()
                continue  # the simulator prints its own banner with the address
            self._out(f"[web] {line}")
        if self._ready.is_set() and not self._stopping:
            code = self.process.returncode if wait_exit(self.process, 1.0) else None
            self._out(
                f"the web process ended (exit code {code}); the door carries on "
                "(restart the simulator for the pages)"
            )
        self._ready.set()  # its output ended: it is gone (start() sees no port)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 1.5) -> int | None:
        """SIGTERM, up to `grace` seconds, then SIGKILL (bounded wait); its exit code."""
        process = self.process
        if process is None:
            return None
        self._stopping = True
        if process.poll() is None:
            process.terminate()
            if not wait_exit(process, grace):
                process.kill()
                if not wait_exit(process, 0.5):
                    log.error("web process %d did not end after SIGKILL", process.pid)
        if process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass
        return process.poll()


def nice_the_session(nice: int) -> bool:
    """Give this process's autogroup the process's own nice value; False where there is none.

    With autogroups (most kernels, Raspberry Pi OS's included), the CPU is shared fairly
    between sessions first and only then by nice value inside one; the web process runs in a
    session of its own, so its nice value alone left it as much CPU as the door's. Raising
    one's own autogroup nice value needs no privilege (sched(7), "The autogroup feature").
    """
    try:
        Path("/proc/self/autogroup").write_text(f"{nice}\n")
    except OSError:  # no autogroups (cgroup CPU controller in charge, or not Linux)
        return False
    return True


def wait_exit(process: subprocess.Popen, timeout: float) -> bool:
    """True once `process` has exited, False after `timeout` s. Looks every 20 ms on an Event
    rather than Popen.wait(timeout), whose time.sleep fails under libfaketime (EINVAL)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while process.poll() is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        pause.wait(min(0.02, left))
    return True
