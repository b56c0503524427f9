"""`openplus-door doctor`: look at a live install and say, per check, what to fix.

IT staff install one controller per branch and come back months later: this is the one command
that says whether the Pi can do its job. Each check is ok, warn (works, but look at it) or fail
(the door cannot do part of its job), with a one-line fix. The checks: the two services, GPIO
pins, serial readers, a camera frame, the library system (a SIP2 SC status), the clock's
synchronisation, the disk under the data and footage directories, and with the door screen
on, the kiosk's browser.

Every contact with the machine goes through `Probes`, so the tests hand in fakes; the real
probes use gpiozero's pin factory, the file system, OpenCV, the SIP2 client and `timedatectl`/
`systemctl`, each bounded by a timeout so that a hung camera or LMS cannot hang the doctor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from controller.config.hardware import ReaderSettings
from controller.config.settings import Settings
from controller.services.doctor_probes import NoPinFactory, PinUnavailable, Probes
from controller.services.install import KIOSK_BROWSERS, NO_KIOSK_BROWSER
from drivers.sip2.errors import Sip2Error, Sip2LoginRefused, Sip2Timeout

DOOR_UNIT, WEB_UNIT = "openplus-door", "openplus-door-web"
MB = 1024 * 1024
DATA_FAIL_BYTES, DATA_WARN_BYTES = 256 * MB, 1024 * MB
CAMERA_TIMEOUT, LMS_TIMEOUT, COMMAND_TIMEOUT = 5.0, 5.0, 5.0


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    name: str
    level: Level
    message: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.level is Level.FAIL


@dataclass
class Doctor:
    """Runs every check; `probes` and the data directory's thresholds are injected by tests."""

    settings: Settings
    probes: Probes = field(default_factory=Probes)
    data_fail_bytes: int = DATA_FAIL_BYTES
    data_warn_bytes: int = DATA_WARN_BYTES
    camera_timeout: float = CAMERA_TIMEOUT
    lms_timeout: float = LMS_TIMEOUT

    def run(self) -> list[CheckResult]:
        door_running = self._unit_active(DOOR_UNIT) is True
        return [
            *(self._service(unit) for unit in (DOOR_UNIT, WEB_UNIT)),
            self._pins(door_running),
            *self._serial(),
            self._camera(door_running),
            self._lms(),
            self._clock(),
            *self._disk(),
            *self._kiosk(),
        ]

    # --- the checks ---------------------------------------------------------------------

    def _service(self, unit: str) -> CheckResult:
        active = self._unit_active(unit)
        if active is None:
            return CheckResult(
                "service",
                Level.WARN,
                f"{unit}: unknown (no systemd to ask here)",
                "run the doctor on the installed Pi",
            )
        if active:
            return CheckResult("service", Level.OK, f"{unit} is running")
        return CheckResult(
            "service",
            Level.FAIL,
            f"{unit} is not running",
            f"sudo systemctl enable --now {unit}; `journalctl -u {unit} -n 50` says why it stopped",
        )

    def _pins(self, door_running: bool) -> CheckResult:
        hardware = self.settings.hardware
        if door_running:
            return CheckResult(
                "pins",
                Level.OK,
                "not claimed: the running door service holds them",
                "stop the door (sudo systemctl stop openplus-door) to check them",
            )
        busy: list[str] = []
        try:
            try:
                self.probes.claim_lock_pin(hardware.lock.pin, hardware.lock.active_high)
            except PinUnavailable as exc:
                busy.append(f"GPIO{hardware.lock.pin} (lock): {exc}")
            for pin, role in _input_pins(self.settings):
                try:
                    self.probes.claim_pin(pin)
                except PinUnavailable as exc:
                    busy.append(f"GPIO{pin} ({role}): {exc}")
        except NoPinFactory as exc:
            return CheckResult(
                "pins",
                Level.FAIL,
                f"no GPIO pin factory: {exc}",
                "run on the Raspberry Pi; the venv needs lgpio (sudo openplus-door install)",
            )
        if busy:
            return CheckResult(
                "pins",
                Level.FAIL,
                "; ".join(busy),
                "free them (another program, or an overlay in /boot/firmware/config.txt; "
                "`pinctrl get N` shows a pin) or pick other pins in [hardware]",
            )
        pins = [hardware.lock.pin, *(pin for pin, _ in _input_pins(self.settings))]
        return CheckResult("pins", Level.OK, "GPIO " + ", ".join(map(str, pins)) + " free")

    def _serial(self) -> list[CheckResult]:
        results = []
        for reader in self.settings.hardware.readers:
            device = _device_of(reader)
            if device is None:
                continue
            if self.probes.device_exists(device):
                results.append(CheckResult("serial", Level.OK, f"{device} (reader '{reader.name}') present"))
            else:
                results.append(
                    CheckResult(
                        "serial",
                        Level.FAIL,
                        f"{device} (reader '{reader.name}') is missing",
                        _missing_device_fix(device, reader.name),
                    )
                )
        return results

    def _camera(self, door_running: bool) -> CheckResult:
        camera = self.settings.camera
        if not camera.enabled:
            return CheckResult("camera", Level.OK, "off ([camera] enabled = false)")
        problem = self.probes.read_frame(camera.source, self.camera_timeout)
        if problem is None:
            return CheckResult("camera", Level.OK, f"camera {camera.source!r} gave a frame")
        held = " (the running door service may hold it: stop it and look again)" if door_running else ""
        return CheckResult(
            "camera",
            Level.FAIL,
            f"camera {camera.source!r} {problem}{held}",
            "check the cable or the stream address and [camera] source; "
            "`v4l2-ctl --list-devices` lists local cameras",
        )

    def _lms(self) -> CheckResult:
        lms = self.settings.lms
        if not lms.enabled:
            return CheckResult("lms", Level.OK, "off ([lms] enabled = false): the local list decides")
        where = f"{lms.host}:{lms.port}"
        try:
            answer = self.probes.lms_status(lms, self.lms_timeout)
        except Sip2LoginRefused as exc:
            return CheckResult(
                "lms", Level.FAIL, f"{where}: {exc}", "check [lms] login_user and login_password"
            )
        except Sip2Timeout as exc:
            return CheckResult(
                "lms",
                Level.FAIL,
                f"{where}: {exc}",
                "check [lms] host, port and tls, and that the LMS's SIP2 service is up",
            )
        except Sip2Error as exc:
            return CheckResult(
                "lms",
                Level.FAIL,
                f"{where}: {exc}",
                "check [lms] host and port, the network, and the LMS's firewall for this Pi",
            )
        level = Level.OK if answer == "online" else Level.WARN
        return CheckResult(
            "lms",
            level,
            f"{where} answered SC status: {answer}",
            "ask the library system's administrators why it is offline",
        )

    def _clock(self) -> CheckResult:
        command = ["timedatectl", "show", "-p", "NTPSynchronized", "--value"]
        try:
            result = self.probes.run(command, COMMAND_TIMEOUT)
        except OSError:
            result = None
        if result is None or result.returncode != 0 or result.output not in ("yes", "no"):
            return CheckResult(
                "clock",
                Level.WARN,
                "synchronisation unknown (timedatectl did not say)",
                "check by hand that the time is right: `date`",
            )
        if result.output == "yes":
            return CheckResult("clock", Level.OK, "synchronised (NTP)")
        return CheckResult(
            "clock",
            Level.FAIL,
            "not synchronised: opening hours, lockouts and footage "
            "times depend on it, and a Pi has no battery clock",
            "check the network and `timedatectl timesync-status` (NTP servers in "
            "/etc/systemd/timesyncd.conf)",
        )

    def _disk(self) -> list[CheckResult]:
        data_dir = self.settings.data_dir
        if not data_dir.is_dir():
            return [
                CheckResult(
                    "disk",
                    Level.FAIL,
                    f"data directory {data_dir} is missing",
                    "sudo openplus-door install (or point storage.data_dir at it)",
                )
            ]
        results = [self._free("data", data_dir, self.data_fail_bytes, self.data_warn_bytes)]
        if data_dir.stat().st_mode & 0o077:
            results.append(
                CheckResult(
                    "disk", Level.WARN, f"{data_dir} is open to other users", f"sudo chmod 700 {data_dir}"
                )
            )
        camera = self.settings.camera
        if camera.enabled:
            footage = _existing(camera.footage_dir or data_dir / "footage")
            stops = camera.min_free_mb * MB
            results.append(self._free("footage", footage, stops, 2 * stops))
        return results

    def _free(self, what: str, path: Path, fail_below: int, warn_below: int) -> CheckResult:
        usage = self.probes.disk(path)
        message = f"{what} ({path}): {_size(usage.free)} free of {_size(usage.total)}"
        fix = f"free space on {path}'s disk (old footage, logs: `journalctl --vacuum-size=100M`)" + (
            " or lower [camera] max_gb" if what == "footage" else ""
        )
        if usage.free < fail_below:
            return CheckResult("disk", Level.FAIL, f"{message}, below {_size(fail_below)}", fix)
        if usage.free < warn_below:
            return CheckResult("disk", Level.WARN, f"{message}, below {_size(warn_below)}", fix)
        return CheckResult("disk", Level.OK, message)

    def _kiosk(self) -> list[CheckResult]:
        """With the door screen on, the kiosk unit needs a browser `install` could point it at."""
        if not self.settings.screen.enabled:
            return []
        found = next((path for path in KIOSK_BROWSERS if self.probes.device_exists(str(path))), None)
        if found is None:
            fix = "sudo apt-get install chromium, then sudo openplus-door install (it picks the one there)"
            return [
                CheckResult("kiosk", Level.FAIL, f"no browser for the door screen: {NO_KIOSK_BROWSER}", fix)
            ]
        return [CheckResult("kiosk", Level.OK, f"door screen browser {found}")]

    def _unit_active(self, unit: str) -> bool | None:
        """Whether systemd runs `unit`; None when there is no systemctl to ask."""
        try:
            result = self.probes.run(["systemctl", "is-active", unit], COMMAND_TIMEOUT)
        except OSError:
            return None
        # The state word on stdout; anything else ("System has not been booted with systemd")
        # means there is no service manager to ask.
        states = {
            "active": True,
            "reloading": True,
            "inactive": False,
            "failed": False,
            "activating": False,
            "deactivating": False,
        }
        return states.get(result.output)


def _input_pins(settings: Settings) -> list[tuple[int | str, str]]:
    """Every configured pin but the lock, with what it is for."""
    hardware = settings.hardware
    pins: list[tuple[int | str, str]] = [
        (hardware.door_contact_pin, "door contact"),
        (hardware.rex_pin, "exit button"),
        (hardware.indicator.green_pin, "green LED"),
        (hardware.indicator.red_pin, "red LED"),
    ]
    if hardware.indicator.buzzer_pin is not None:
        pins.append((hardware.indicator.buzzer_pin, "buzzer"))
    if hardware.lights is not None:
        pins.append((hardware.lights.pin, "lights"))
    if hardware.alarm is not None:
        pins.append((hardware.alarm.pin, "alarm"))
    for reader in hardware.readers:
        if reader.type == "wiegand":
            pins += [(reader.d0_pin, f"{reader.name} D0"), (reader.d1_pin, f"{reader.name} D1")]
        elif reader.type == "matrix_keypad":
            pins += [(pin, f"{reader.name} row") for pin in reader.row_pins]
            pins += [(pin, f"{reader.name} column") for pin in reader.col_pins]
    return pins


def _device_of(reader: ReaderSettings) -> str | None:
    """The device file a reader opens (serial port, or an input device given as a path)."""
    if reader.type in ("rdm6300", "barcode", "osdp"):
        return reader.port
    if reader.type == "keyboard_wedge" and reader.device.startswith("/dev/"):
        return reader.device
    return None


def _missing_device_fix(device: str, name: str) -> str:
    if Path(device).name in ("serial0", "ttyAMA0", "ttyS0"):
        return (
            "switch the Pi's UART on without a login console: sudo raspi-config nonint "
            "do_serial_hw 0 && sudo raspi-config nonint do_serial_cons 1, then reboot"
        )
    return (
        f"plug reader '{name}' in, or set its port in [[hardware.readers]] "
        "(`ls /dev/serial/by-id/` lists the connected USB serial devices)"
    )


def _existing(path: Path) -> Path:
    """`path`, or its nearest existing parent (footage is made on first use)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(count: int) -> str:
    return f"{count / (1024 * MB):.1f} GB" if count >= 1024 * MB else f"{count // MB} MB"


def render(results: Sequence[CheckResult]) -> str:
    """One line per check, its fix indented below it, and a count at the end."""
    lines: list[str] = []
    for result in results:
        lines.append(f"{result.level:<5} {result.name:<9} {result.message}")
        if result.fix and result.level is not Level.OK:
            lines.append(f"{'':16}fix: {result.fix}")
    fails = sum(result.level is Level.FAIL for result in results)
    warns = sum(result.level is Level.WARN for result in results)
    lines.append("all checks passed" if not fails and not warns else f"{fails} to fix, {warns} to look at")
    return "\n".join(lines)
