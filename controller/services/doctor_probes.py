"""The machine as `openplus-door doctor` sees it: pins, devices, camera, LMS, commands, disk.

Each probe is bounded (a hung camera or LMS cannot hang the doctor) and read-only, except the
lock pin, which is touched only as relay-off touches it (driven locked, then released). The
tests replace `Probes`' members with fakes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from controller.config.lms import LmsSettings


class PinUnavailable(Exception):
    """A GPIO pin that cannot be claimed (another program or a kernel driver holds it)."""


class NoPinFactory(Exception):
    """gpiozero found no way to drive pins here (not a Pi, or lgpio missing from the venv)."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    output: str


def run_command(command: Sequence[str], timeout: float) -> CommandResult:
    """Run a read-only system command; FileNotFoundError when it is not installed."""
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return CommandResult(124, f"{command[0]} did not answer within {timeout:g} s")
    return CommandResult(done.returncode, (done.stdout or done.stderr).strip())


def claim_input_pin(pin: int | str) -> None:
    """Claim `pin` as an input through gpiozero's default pin factory, then let it go."""
    from gpiozero import InputDevice
    from gpiozero.exc import BadPinFactory

    try:
        with _quiet_fallbacks():
            device = InputDevice(pin, pull_up=None, active_state=True)
    except BadPinFactory as exc:
        raise NoPinFactory(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - lgpio raises its own `error` class; any failure means unavailable
        raise PinUnavailable(str(exc) or type(exc).__name__) from None
    device.close()


def claim_lock_pin(pin: int | str, active_high: bool) -> None:
    """The lock pin is only ever touched the way relay-off does: driven locked, then released."""
    from gpiozero.exc import BadPinFactory

    from drivers.outputs import relay_off

    try:
        with _quiet_fallbacks():
            relay_off(pin, active_high=active_high)
    except BadPinFactory as exc:
        raise NoPinFactory(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - lgpio raises its own `error` class; any failure means unavailable
        raise PinUnavailable(str(exc) or type(exc).__name__) from None


@contextmanager
def _quiet_fallbacks() -> Iterator[None]:
    """gpiozero warns for each pin factory it cannot load; the doctor's own line says it once."""
    from gpiozero.exc import PinFactoryFallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PinFactoryFallback)
        yield


def read_one_frame(source: int | str, timeout: float) -> str | None:
    """None when one frame was read within `timeout`, else what went wrong. OpenCV may block
    on a dead network camera, so the reading runs on a daemon thread that is left behind."""
    outcome: list[str | None] = []

    def grab() -> None:
        from drivers.camera_messages import open_source

        capture = open_source(source, timeout_ms=int(timeout * 1000))
        try:
            if not capture.isOpened():
                outcome.append("cannot be opened")
                return
            ok, frame = capture.read()
            outcome.append(None if ok and frame is not None else "opened, but gave no frame")
        finally:
            capture.release()

    worker = threading.Thread(target=grab, name="doctor-camera", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return f"gave no frame within {timeout:g} s"
    return outcome[0] if outcome else "failed while reading (see the error above)"


def lms_sc_status(settings: LmsSettings, timeout: float) -> str:
    """Connect (TLS and login as configured) and ask SC status (99 -> 98); the LMS's answer in
    words. Raises drivers.sip2's Sip2Error when it cannot be reached or does not answer."""
    from controller.services.lms import sip2_settings
    from drivers.sip2.connection import Sip2Connection

    deadline = time.monotonic() + timeout
    connection = Sip2Connection.open(sip2_settings(settings), deadline)
    try:
        status = connection.sc_status(deadline)
    finally:
        connection.close()
    return "online" if status.online else "offline (it refuses transactions now)"


@dataclass(frozen=True)
class DiskUsage:
    total: int
    free: int


def disk_usage(path: Path) -> DiskUsage:
    usage = shutil.disk_usage(path)
    return DiskUsage(total=usage.total, free=usage.free)


@dataclass
class Probes:
    """Everything the doctor asks of the machine; the tests replace any of these."""

    claim_pin: Callable[[int | str], None] = claim_input_pin
    claim_lock_pin: Callable[[int | str, bool], None] = claim_lock_pin
    device_exists: Callable[[str], bool] = os.path.exists
    read_frame: Callable[[int | str, float], str | None] = read_one_frame
    lms_status: Callable[[LmsSettings, float], str] = lms_sc_status
    run: Callable[[Sequence[str], float], CommandResult] = run_command
    disk: Callable[[Path], DiskUsage] = disk_usage
