"""A real Mosquitto (Debian's `mosquitto`) on a free loopback port, started and stopped here.

Moved out of tests/mqtt_support.py so the tests, bench/fleet.py and `openplus-door fleet
simulate --local-broker` start the broker the same way. `persistent=True` gives it a
persistence file, so messages queued for persistent sessions survive a stop (SIGTERM:
Mosquitto saves on the way out) and a start on the same port; `stop_process(kill=True)` is a
crash instead (SIGKILL: what it acknowledged since its last save is gone, as in a power loss).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

START_SECONDS = 10.0  # the longest a start may take before it counts as failed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")


class MosquittoError(Exception):
    """The broker could not be started (missing, or it did not listen)."""


class Mosquitto:
    """One Mosquitto process on 127.0.0.1:`port`, its configuration in `config_dir`."""

    def __init__(
        self, binary: str, config_dir: Path, *, persistent: bool = False, port: int | None = None
    ) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.persistent = persistent
        self.config = config_dir / "mosquitto.conf"
        # `user`: started as root Mosquitto would drop to the user 'mosquitto', which cannot
        # write its persistence file into the caller's directory.
        persistence = (
            f"persistence true\npersistence_location {config_dir}/\n"
            f"user {getpass.getuser()}\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
            if persistent
            else "persistence false\n"
        )
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n" + persistence, encoding="utf-8"
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start it and return once it accepts connections."""
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_SECONDS
        while True:  # until it listens (a condition, not a pause: each try is a connect)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise MosquittoError(f"mosquitto did not start listening on port {self.port}") from None
                self._stopped_wait(0.05)

    def _stopped_wait(self, seconds: float) -> None:
        assert self._process is not None
        try:
            self._process.wait(seconds)
        except subprocess.TimeoutExpired:
            pass

    def stop_process(self, *, kill: bool = False) -> None:
        """The broker goes down: SIGTERM (with persistence it saves its queues first), or with
        `kill` SIGKILL (a crash: messages it took since its last save are lost)."""
        if self._process is not None:
            if kill:
                self._process.kill()
            else:
                self._process.terminate()
            self._process.wait(START_SECONDS)
            self._process = None
