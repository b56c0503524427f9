"""`openplus-door install` against a scratch root: run twice (the second changes nothing), then
`systemd-analyze verify` on the unit files it installed.

The source is a small copy of this checkout's install inputs (units, config, pyproject,
constraints), so other work on the tree cannot change the source hash between the two runs.
pip is a fake: it makes the venv's python and the `openplus-door` console script (a stub that
systemd-analyze can see is executable) and records the commands; a real pip install of the
whole project would take minutes and the network.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.services.install import (
    CONFIG_DIR,
    CONFIG_NAME,
    DATA_DIR,
    JOURNALD_DROPIN,
    KIOSK_UNIT,
    NO_KIOSK_BROWSER,
    SYSTEM_UNITS,
    VENV_DIR,
    Installer,
    InstallError,
    InstallOptions,
    Status,
    changed,
)

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
# A developer without the package gets a skip; CI (where ./dev test installs it) must verify.
NO_VERIFY = SYSTEMD_ANALYZE is None and not os.environ.get("CI")
INPUTS = [
    "pyproject.toml",
    "constraints.txt",
    "README.md",
    f"config/{CONFIG_NAME}",
    "systemd/openplus-door.service",
    "systemd/openplus-door-web.service",
    f"systemd/{KIOSK_UNIT}",
    "systemd/journald-openplus-door.conf",
    "controller/__init__.py",
]


class FakePip:
    """Stands in for `python3 -m venv` and pip: records each command and the umask it ran
    under, and leaves what they would leave (the venv's python and console script)."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.umasks: list[int] = []

    def __call__(self, command: Sequence[str]) -> None:
        self.commands.append(list(command))
        mask = os.umask(0)
        os.umask(mask)
        self.umasks.append(mask)
        if command[1:3] == ["-m", "venv"]:
            bin_dir = Path(command[3]) / "bin"
            bin_dir.mkdir(parents=True)
            (bin_dir / "python").write_text("#!/bin/sh\n")
        elif command[1:4] == ["-m", "pip", "install"]:
            script = Path(command[0]).parent / "openplus-door"
            script.write_text("#!/bin/sh\nexit 0\n")
            script.chmod(0o755)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "checkout"
    for name in INPUTS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, folder / name)
    return folder


def browser(root: Path, name: str = "chromium") -> Path:
    """A stand-in for the kiosk's browser in the target system's /usr/bin."""
    path = root / "usr/bin" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """The scratch root, a Pi OS with Chromium (as /usr/bin/chromium) on it."""
    root = tmp_path / "root"
    browser(root)
    return root


def install(target: Path, source: Path, pip: FakePip, **options: object) -> list:
    return Installer(InstallOptions(root=target, source=source, **options), run=pip).install()


def snapshot(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every path below root: its mode and its content or link target."""
    found: dict[str, tuple[int, bytes | str | None]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = (info.st_mode, os.readlink(path))
        elif path.is_file():
            found[str(path.relative_to(root))] = (info.st_mode, path.read_bytes())
        else:
            found[str(path.relative_to(root))] = (info.st_mode, None)
    return found


def below(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")


def test_install_twice_into_a_scratch_root_lays_everything_out_once(target, source):
    pip = FakePip()
    first = install(target, source, pip)

    data = below(target, DATA_DIR)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    config = below(target, CONFIG_DIR / CONFIG_NAME)
    assert config.read_bytes() == (source / "config" / CONFIG_NAME).read_bytes()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o750
    for name in SYSTEM_UNITS:
        unit = target / "etc/systemd/system" / name
        assert unit.read_bytes() == (source / "systemd" / name).read_bytes()
        assert stat.S_IMODE(unit.stat().st_mode) == 0o644
        link = target / "etc/systemd/system/multi-user.target.wants" / name
        assert os.readlink(link) == f"/etc/systemd/system/{name}"  # as systemctl enable makes it
    kiosk_link = target / "etc/systemd/user/graphical-session.target.wants" / KIOSK_UNIT
    assert os.readlink(kiosk_link) == f"/etc/systemd/user/{KIOSK_UNIT}"
    assert "SystemMaxUse=" in below(target, JOURNALD_DROPIN).read_text()
    assert os.readlink(target / "usr/local/bin/openplus-door") == f"{VENV_DIR}/bin/openplus-door"

    venv = below(target, VENV_DIR)
    assert pip.commands == [
        ["python3", "-m", "venv", str(venv)],
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(source / "constraints.txt"),
            str(source),
        ],
    ]
    assert pip.umasks == [0o022, 0o022]  # the service's user can read what root installed
    planned = [step.what for step in first if step.status is Status.PLANNED]
    assert any(what.startswith("useradd --system") and what.endswith(" openplus-door") for what in planned)
    assert f"chown openplus-door:openplus-door {DATA_DIR}" in planned
    assert "systemctl daemon-reload" in planned
    assert changed(first) > 0

    before = snapshot(target)
    second = install(target, source, pip)
    assert changed(second) == 0, [step for step in second if step.status is not Status.UNCHANGED]
    assert snapshot(target) == before
    assert len(pip.commands) == 2  # the venv's stamp matched: no pip the second time
    assert "systemctl daemon-reload" not in [step.what for step in second]


def test_a_librarys_own_config_is_kept_and_a_changed_unit_put_back(target, source):
    pip = FakePip()
    install(target, source, pip)
    config = below(target, CONFIG_DIR / CONFIG_NAME)
    config.write_text('[branch]\nname = "Bibliotheek Assen"\n')
    unit = target / "etc/systemd/system/openplus-door.service"
    unit.write_text("[Service]\nExecStart=/bin/false\n")
    below(target, DATA_DIR).chmod(0o755)

    steps = install(target, source, pip)

    assert config.read_text() == '[branch]\nname = "Bibliotheek Assen"\n'
    assert unit.read_bytes() == (source / "systemd/openplus-door.service").read_bytes()
    assert stat.S_IMODE(below(target, DATA_DIR).stat().st_mode) == 0o700
    done = {(step.status, step.what) for step in steps}
    assert (Status.UPDATED, "/etc/systemd/system/openplus-door.service") in done
    assert (Status.UPDATED, f"{DATA_DIR} (mode 0700)") in done
    assert (Status.PLANNED, "systemctl daemon-reload") in done


def test_a_changed_source_is_installed_again_with_pip(target, source):
    pip = FakePip()
    install(target, source, pip)
    (source / "controller" / "__init__.py").write_text('"""changed"""\n')

    steps = install(target, source, pip)

    assert [command[1:4] for command in pip.commands] == [
        ["-m", "venv", str(below(target, VENV_DIR))],
        ["-m", "pip", "install"],
        ["-m", "pip", "install"],
    ]
    assert any(step.status is Status.UPDATED and str(VENV_DIR) in step.what for step in steps)


def test_skip_venv_and_no_kiosk(target, source):
    (target / "usr/bin/chromium").unlink()  # no browser needed without the kiosk
    pip = FakePip()
    steps = install(target, source, pip, skip_venv=True, kiosk=False)
    assert pip.commands == []
    assert not (target / "etc/systemd/user").exists()
    assert {
        step.status
        for step in steps
        if step.what.startswith("virtual environment") or KIOSK_UNIT in step.what
    } == {Status.SKIPPED}


def test_a_folder_that_is_not_a_checkout_is_refused_by_name(target, tmp_path):
    with pytest.raises(InstallError, match=r"not an openplus-door checkout \(no pyproject.toml"):
        install(target, tmp_path / "empty", FakePip())
    assert [path.name for path in target.iterdir()] == ["usr"]  # the browser the fixture put there


def test_the_cli_reports_unchanged_the_second_time(target, capsys):
    assert main(["install", "--root", str(target), "--skip-venv"]) == 0
    first = capsys.readouterr().out
    assert "scratch root" in first and "created" in first
    assert main(["install", "--root", str(target), "--skip-venv"]) == 0
    second = capsys.readouterr().out
    assert "openplus-door install: unchanged: everything was in place" in second
    assert " created " not in second and " updated " not in second


def test_install_runs_on_the_standard_library_alone(target):
    """A fresh Pi runs `sudo python3 -m controller.cli install` before any venv exists."""
    script = (
        "import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p]; "
        "sys.argv[0] = 'openplus-door'; import runpy; runpy.run_module('controller.cli', "
        "run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "install", "--root", str(target), "--skip-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "pydantic" not in done.stderr and below(target, DATA_DIR).is_dir()


def test_the_kiosk_runs_chromium_browser_where_that_is_its_name(target, source):
    """Older Raspberry Pi OS Bookworm images: the unit is installed with their name for it."""
    (target / "usr/bin/chromium").unlink()
    browser(target, "chromium-browser")
    install(target, source, FakePip())
    installed = (target / "etc/systemd/user" / KIOSK_UNIT).read_text()
    source_unit = (source / "systemd" / KIOSK_UNIT).read_text()
    assert "ExecStart=/usr/bin/chromium-browser --kiosk " in installed
    assert installed == source_unit.replace(
        "ExecStart=/usr/bin/chromium ", "ExecStart=/usr/bin/chromium-browser "
    )
    assert changed(install(target, source, FakePip())) == 0


def test_chromium_is_preferred_when_both_are_there(target, source):
    browser(target, "chromium-browser")
    install(target, source, FakePip())
    installed = target / "etc/systemd/user" / KIOSK_UNIT
    assert installed.read_bytes() == (source / "systemd" / KIOSK_UNIT).read_bytes()


def test_no_browser_at_all_is_refused_naming_both_before_anything_changes(target, source, capsys):
    (target / "usr/bin/chromium").unlink()
    with pytest.raises(InstallError, match="neither /usr/bin/chromium nor /usr/bin/chromium-browser exists"):
        install(target, source, FakePip())
    assert [path.name for path in target.iterdir()] == ["usr"]
    assert main(["install", "--root", str(target), "--skip-venv"]) == 2
    assert NO_KIOSK_BROWSER in capsys.readouterr().err
    assert [path.name for path in target.iterdir()] == ["usr"]


@pytest.mark.skipif(NO_VERIFY, reason="systemd-analyze is not installed (Debian package `systemd`)")
@pytest.mark.parametrize("browser_name", ["chromium", "chromium-browser"])
def test_systemd_analyze_verify_passes_on_the_installed_units(target, source, tmp_path, browser_name):
    """The units as installed, their /opt/openplus-door paths pointed into the scratch root (where
    the fake pip left an executable console script) and so the kiosk's browser (a stand-in
    there), so the check sees what the installer put where the units expect it."""
    assert SYSTEMD_ANALYZE, "systemd-analyze is missing: apt-get install systemd"
    (target / "usr/bin/chromium").unlink()
    browser(target, browser_name)
    install(target, source, FakePip())
    checked = tmp_path / "verify"
    checked.mkdir()

    def copy(installed: Path) -> Path:
        text = installed.read_text().replace("/opt/openplus-door", str(target / "opt/openplus-door"))
        text = text.replace(
            f"ExecStart=/usr/bin/{browser_name} ", f"ExecStart={target}/usr/bin/{browser_name} "
        )
        (checked / installed.name).write_text(text)
        return checked / installed.name

    system_units = [copy(target / "etc/systemd/system" / name) for name in SYSTEM_UNITS]
    kiosk = copy(target / "etc/systemd/user" / KIOSK_UNIT)
    runtime = tmp_path / "xdg"  # a user manager's runtime directory, for --user
    runtime.mkdir(mode=0o700)
    for scope, units in (([], system_units), (["--user"], [kiosk])):
        done = subprocess.run(
            [SYSTEMD_ANALYZE, *scope, "verify", *map(str, units)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        )
        about_us = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if "openplus-door" in line or str(tmp_path) in line
        ]
        assert done.returncode == 0 and not about_us, done.stdout + done.stderr


def test_the_installed_command_takes_the_checkout_it_is_run_in(monkeypatch, source, tmp_path):
    """`cd /opt/openplus-door && sudo openplus-door install` from the venv's installed copy,
    which is no checkout itself."""
    import controller.services.install_source as install_source

    monkeypatch.setattr(
        install_source, "__file__", str(tmp_path / "site-packages/controller/services/install_source.py")
    )
    monkeypatch.chdir(source)
    assert InstallOptions().source == source


class LiveInstaller(Installer):
    """The installer as it runs on the Pi (root /), its paths kept inside a scratch folder."""

    live = True  # type: ignore[assignment]  # a class attribute in place of the base class property


def test_on_the_live_system_the_commands_run_once(target, source, monkeypatch):
    """useradd, systemctl enable/daemon-reload and the journald restart run on the real system;
    the fake system remembers them, and a second run runs none."""
    import controller.services.install as install_module

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(install_module, "_uid", lambda name: os.getuid())
    monkeypatch.setattr(install_module, "_gid", lambda name: os.getgid())
    users: set[str] = set()
    pip = FakePip()

    def system(command: Sequence[str]) -> None:
        if command[0] == "useradd":
            users.add(command[-1])
        elif command[0] == "systemctl" and command[-2] == "enable":
            unit_dir = "etc/systemd/user" if "--global" in command else "etc/systemd/system"
            for wanted in install_module.wanted_by(target / unit_dir / command[-1]):
                link = target / unit_dir / f"{wanted}.wants" / command[-1]
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f"/{unit_dir}/{command[-1]}")
        pip(command)

    def run() -> list:
        return LiveInstaller(
            InstallOptions(root=target, source=source), run=system, user_exists=users.__contains__
        ).install()

    run()
    ran = [" ".join(command) for command in pip.commands if command[0] in ("useradd", "systemctl")]
    assert ran[0].startswith("useradd --system --user-group") and ran[0].endswith(" openplus-door")
    assert ran[1:] == [
        "systemctl daemon-reload",
        "systemctl enable openplus-door.service",
        "systemctl enable openplus-door-web.service",
        f"systemctl --global enable {KIOSK_UNIT}",
        "systemctl restart systemd-journald",
    ]
    count = len(pip.commands)
    second = run()
    assert len(pip.commands) == count and changed(second) == 0
    assert not [step for step in second if step.status is Status.PLANNED]
