"""`openplus-door install`: put the service on a Raspberry Pi OS (Bookworm) machine, or lay it out
under a scratch root for the tests.

One command, safe to run again (after a `git pull`, or just to be sure): every step first looks
at what is there and only changes what differs, so a second run reports everything `unchanged`.
What it does, all below `root`:

- the system user `openplus-door` (no login, no home of its own; `useradd --system`);
- the virtual environment /opt/openplus-door/.venv with this project installed into it, pinned
  by constraints.txt (a stamp of the sources' hash makes a second run skip pip), and its
  command linked as /usr/local/bin/openplus-door;
- the data directory /var/lib/openplus-door, mode 0700, owned by that user;
- /etc/openplus-door/openplus-door.toml, copied from the example only when absent (a library's
  own config is never overwritten), readable by the service's group only;
- the door and web units in /etc/systemd/system, the door screen's kiosk unit (a user unit, for
  the desktop session's account) in /etc/systemd/user, each enabled for its [Install] WantedBy=;
  the kiosk's browser is the one the target has, /usr/bin/chromium or /usr/bin/chromium-browser;
- a journald drop-in that bounds and keeps the logs (the journal rotates them itself).

With root `/` the steps that need the live system (useradd, chown, systemctl) are run; under any
other root they cannot mean anything (the user does not exist there, no systemd manages that
tree), so they are reported as `planned` with the command that would run, and the enablement
symlinks are made by hand exactly where `systemctl enable` puts them. Only the standard library
is imported: on a fresh Pi this runs from the checkout with the system's python3, before any
virtual environment exists.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from controller.services.install_source import default_source, source_hash

USER = "openplus-door"
APP_DIR = Path("/opt/openplus-door")
VENV_DIR = APP_DIR / ".venv"
DATA_DIR = Path("/var/lib/openplus-door")
CONFIG_DIR = Path("/etc/openplus-door")
CONFIG_NAME = "openplus-door.toml"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
USER_UNIT_DIR = Path("/etc/systemd/user")  # user units for every account (systemctl --global)
JOURNALD_DROPIN = Path("/etc/systemd/journald.conf.d/openplus-door.conf")
COMMAND_LINK = Path("/usr/local/bin/openplus-door")  # `sudo openplus-door doctor` on the PATH

SYSTEM_UNITS = ("openplus-door.service", "openplus-door-web.service")
KIOSK_UNIT = "openplus-door-screen.service"
# The kiosk's browser, preferred first: older Raspberry Pi OS Bookworm images call it chromium-browser.
KIOSK_BROWSERS = (Path("/usr/bin/chromium"), Path("/usr/bin/chromium-browser"))
NO_KIOSK_BROWSER = f"neither {KIOSK_BROWSERS[0]} nor {KIOSK_BROWSERS[1]} exists"
JOURNALD_SOURCE = "journald-openplus-door.conf"
VENV_STAMP = ".openplus-door-install"  # the hash of what was pip-installed last
UNIT_MODE, CONFIG_MODE, CONFIG_DIR_MODE, DATA_MODE = 0o644, 0o640, 0o750, 0o700


class InstallError(Exception):
    """Something the installer cannot do; printed as one line, nothing further is changed."""


class Status(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    PLANNED = "planned"  # needs the live system; shown with its command under a scratch root
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Step:
    status: Status
    what: str


Runner = Callable[[Sequence[str]], None]  # runs one command; raises InstallError when it fails


def run_command(command: Sequence[str]) -> None:
    """Run `command`, its output shown as it goes; a non-zero exit is an InstallError."""
    try:
        done = subprocess.run(list(command), check=False)
    except OSError as exc:
        raise InstallError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise InstallError(f"`{' '.join(command)}` failed (exit {done.returncode})")


@dataclass
class InstallOptions:
    root: Path = Path("/")
    source: Path = field(default_factory=lambda: default_source())
    skip_venv: bool = False  # tests and dry layouts: no python3 -m venv, no pip
    kiosk: bool = True
    python: str = "python3"


@dataclass
class Installer:
    """Runs the steps in order; `steps` says what each did. `run` and `user_exists` are injected
    by the tests (a fake pip, a user that exists)."""

    options: InstallOptions
    run: Runner = run_command
    user_exists: Callable[[str], bool] | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Installing onto this machine itself (root /), not into a scratch folder."""
        return self.options.root.resolve() == Path("/")

    def at(self, path: Path) -> Path:
        """`path` (absolute, as the installed system sees it) below the target root."""
        return self.options.root / path.relative_to("/")

    def install(self) -> list[Step]:
        self._check_source()
        if self.live and os.geteuid() != 0:
            raise InstallError("installing onto / needs root: run it with sudo")
        if not self.options.root.is_dir():
            raise InstallError(f"the target root {self.options.root} is not a directory")
        kiosk = self.options.kiosk and self.source_file(f"systemd/{KIOSK_UNIT}").is_file()
        browser = kiosk_browser(self.options.root) if kiosk else None
        if kiosk and browser is None:  # before anything is changed
            raise InstallError(
                f"the door screen's kiosk needs Chromium, but {NO_KIOSK_BROWSER}: "
                "sudo apt-get install chromium (or install with --no-kiosk)"
            )
        with _umask(0o022):  # the venv and the units must be readable by the service's user
            self._user()
            self._venv()
            self._command_link()
            self._data_dir()
            self._config()
            changed_units = [self._unit(name, SYSTEM_UNIT_DIR) for name in SYSTEM_UNITS]
            if browser is not None:
                unit = self.source_file(f"systemd/{KIOSK_UNIT}").read_bytes()
                unit = unit.replace(b"ExecStart=/usr/bin/chromium ", f"ExecStart={browser} ".encode())
                changed_units.append(self._copy(unit, USER_UNIT_DIR / KIOSK_UNIT, UNIT_MODE))
            elif not self.options.kiosk:
                self._note(Status.SKIPPED, f"the door screen's kiosk unit {KIOSK_UNIT} (--no-kiosk)")
            if any(changed_units):
                self._system(Status.UPDATED, ["systemctl", "daemon-reload"])
            self._enable_all()
            self._journald()
        return self.steps

    # --- the steps ------------------------------------------------------------------------

    def _user(self) -> None:
        exists = self.user_exists or _user_exists
        command = [
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            str(DATA_DIR),
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            USER,
        ]
        if self.live and exists(USER):
            self._note(Status.UNCHANGED, f"system user {USER}")
        else:
            self._system(Status.CREATED, command)

    def _venv(self) -> None:
        venv = self.at(VENV_DIR)
        if self.options.skip_venv:
            self._note(Status.SKIPPED, f"virtual environment {VENV_DIR} (--skip-venv)")
            return
        stamp = venv / VENV_STAMP
        wanted = source_hash(self.options.source)
        if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == wanted:
            self._note(Status.UNCHANGED, f"virtual environment {VENV_DIR} (this source installed)")
            return
        status = Status.UPDATED if (venv / "bin" / "python").exists() else Status.CREATED
        if status is Status.CREATED:
            self.run([self.options.python, "-m", "venv", str(venv)])
        self.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "-c",
                str(self.source_file("constraints.txt")),
                str(self.options.source),
            ]
        )
        stamp.write_text(wanted + "\n", encoding="utf-8")
        self._note(status, f"virtual environment {VENV_DIR} (openplus-door installed with pip)")

    def _command_link(self) -> None:
        target, link = VENV_DIR / "bin" / "openplus-door", self.at(COMMAND_LINK)
        if link.is_symlink() and os.readlink(link) == str(target):
            self._note(Status.UNCHANGED, f"{COMMAND_LINK} -> {target}")
            return
        if link.exists() and not link.is_symlink():
            raise InstallError(f"{COMMAND_LINK} exists and is not our link: move it away first")
        status = Status.UPDATED if link.is_symlink() else Status.CREATED
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target)
        self._note(status, f"{COMMAND_LINK} -> {target}")

    def _data_dir(self) -> None:
        self._directory(DATA_DIR, DATA_MODE, owner=(USER, USER))

    def _config(self) -> None:
        self._directory(CONFIG_DIR, CONFIG_DIR_MODE, owner=("root", USER))
        target = self.at(CONFIG_DIR / CONFIG_NAME)
        if target.exists():
            self._note(Status.UNCHANGED, f"{CONFIG_DIR / CONFIG_NAME} (kept as it is)")
        else:
            shutil.copyfile(self.source_file(f"config/{CONFIG_NAME}"), target)
            target.chmod(CONFIG_MODE)
            self._note(Status.CREATED, f"{CONFIG_DIR / CONFIG_NAME} (from the example: edit it)")
        self._own(CONFIG_DIR / CONFIG_NAME, "root", USER)

    def _unit(self, name: str, unit_dir: Path) -> bool:
        """Copy one unit file in; True when it changed (systemd must reload)."""
        return self._copy(self.source_file(f"systemd/{name}").read_bytes(), unit_dir / name, UNIT_MODE)

    def _enable_all(self) -> None:
        units = [(name, SYSTEM_UNIT_DIR) for name in SYSTEM_UNITS]
        if self.options.kiosk and self.at(USER_UNIT_DIR / KIOSK_UNIT).is_file():
            units.append((KIOSK_UNIT, USER_UNIT_DIR))
        for name, unit_dir in units:
            links = [unit_dir / f"{target}.wants" / name for target in wanted_by(self.at(unit_dir / name))]
            if all(
                self.at(link).is_symlink() and os.readlink(self.at(link)) == str(unit_dir / name)
                for link in links
            ):
                self._note(Status.UNCHANGED, f"{name} enabled")
                continue
            if self.live:
                scope = ["--global"] if unit_dir == USER_UNIT_DIR else []
                self._system(Status.CREATED, ["systemctl", *scope, "enable", name])
                continue
            for link in links:
                target = self.at(link)
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.exists():
                    target.unlink()
                target.symlink_to(unit_dir / name)
            self._note(Status.CREATED, f"{name} enabled ({', '.join(map(str, links))})")

    def _journald(self) -> None:
        dropin = self.source_file(f"systemd/{JOURNALD_SOURCE}").read_bytes()
        changed = self._copy(dropin, JOURNALD_DROPIN, UNIT_MODE)
        if changed:
            self._system(Status.UPDATED, ["systemctl", "restart", "systemd-journald"])

    # --- helpers --------------------------------------------------------------------------

    def source_file(self, relative: str) -> Path:
        return self.options.source / relative

    def _check_source(self) -> None:
        needed = [
            "pyproject.toml",
            "constraints.txt",
            f"config/{CONFIG_NAME}",
            f"systemd/{JOURNALD_SOURCE}",
            *(f"systemd/{name}" for name in SYSTEM_UNITS),
        ]
        missing = [name for name in needed if not self.source_file(name).is_file()]
        if missing:
            raise InstallError(
                f"{self.options.source} is not an openplus-door checkout (no "
                f"{', '.join(missing)}): run the install from the checkout, or "
                "name it with --source"
            )

    def _directory(self, path: Path, mode: int, owner: tuple[str, str]) -> None:
        target = self.at(path)
        if not target.is_dir():
            target.mkdir(parents=True)
            target.chmod(mode)
            self._note(Status.CREATED, f"{path} (mode {mode:04o})")
        elif (target.stat().st_mode & 0o7777) != mode:
            target.chmod(mode)
            self._note(Status.UPDATED, f"{path} (mode {mode:04o})")
        else:
            self._note(Status.UNCHANGED, f"{path} (mode {mode:04o})")
        self._own(path, *owner)

    def _own(self, path: Path, user: str, group: str) -> None:
        """chown on the live system (only when it differs); a planned step under a scratch root."""
        if not self.live:
            self._note(Status.PLANNED, f"chown {user}:{group} {path}")
            return
        uid, gid = _uid(user), _gid(group)
        info = self.at(path).stat()
        if (info.st_uid, info.st_gid) == (uid, gid):
            self._note(Status.UNCHANGED, f"{path} owned by {user}:{group}")
        else:
            os.chown(self.at(path), uid, gid)
            self._note(Status.UPDATED, f"{path} owned by {user}:{group}")

    def _copy(self, content: bytes, destination: Path, mode: int) -> bool:
        """Write `content` when absent or different; True when something was written."""
        target = self.at(destination)
        if target.is_file() and target.read_bytes() == content:
            if (target.stat().st_mode & 0o7777) == mode:
                self._note(Status.UNCHANGED, str(destination))
                return False
            target.chmod(mode)
            self._note(Status.UPDATED, f"{destination} (mode {mode:04o})")
            return False
        status = Status.UPDATED if target.exists() else Status.CREATED
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(content)
        partial.chmod(mode)
        partial.replace(target)  # whole or not at all: systemd never reads half a unit
        self._note(status, str(destination))
        return True

    def _system(self, status: Status, command: list[str]) -> None:
        """A command only the live system can run: run it there, plan it under a scratch root."""
        if self.live:
            self.run(command)
            self._note(status, " ".join(command))
        else:
            self._note(Status.PLANNED, " ".join(command))

    def _note(self, status: Status, what: str) -> None:
        self.steps.append(Step(status, what))


def wanted_by(unit_file: Path) -> list[str]:
    """The targets of a unit's [Install] WantedBy= lines (each may list several)."""
    targets: list[str] = []
    section = ""
    for line in unit_file.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Install]" and line.startswith("WantedBy="):
            targets += line.partition("=")[2].split()
    return targets


def kiosk_browser(root: Path = Path("/")) -> Path | None:
    """The first of KIOSK_BROWSERS the system at `root` has (the path as that system sees it)."""
    return next((path for path in KIOSK_BROWSERS if (root / path.relative_to("/")).exists()), None)


def changed(steps: Sequence[Step]) -> int:
    return sum(step.status in (Status.CREATED, Status.UPDATED) for step in steps)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _uid(name: str) -> int:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise InstallError(f"no user {name}") from None


def _gid(name: str) -> int:
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise InstallError(f"no group {name}") from None


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)
