"""The two systemd units: `systemd-analyze verify` on copies whose /opt/openplus-door paths point
at this checkout and its virtualenv, and what each unit must (and must not) say.

`systemd-analyze verify` exits 0 on unknown keys and unparsable values (it only prints
"ignoring"), so any output about our units fails the test too. It does not look up User= or
Group=, so the openplus-door user need not exist here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
DOOR_UNIT, WEB_UNIT = "openplus-door.service", "openplus-door-web.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
# A developer without the package gets a skip; CI (where ./dev test installs it) must verify.
NO_VERIFY = SYSTEMD_ANALYZE is None and not os.environ.get("CI")


def directives(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, by key (a key may repeat), sections ignored."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def in_checkout(unit: str, folder: Path) -> Path:
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "openplus-door").is_file(), (
        f"the console script is not installed beside {sys.executable} (run ./dev test)"
    )
    text = (UNITS / unit).read_text(encoding="utf-8")
    text = text.replace("/opt/openplus-door/.venv/bin/", f"{venv_bin}/")
    text = text.replace("/opt/openplus-door", str(ROOT))
    copy = folder / unit
    copy.write_text(text, encoding="utf-8")
    return copy


@pytest.mark.skipif(NO_VERIFY, reason="systemd-analyze is not installed (Debian package `systemd`)")
def test_systemd_analyze_verify_passes_on_both_units(tmp_path):
    assert SYSTEMD_ANALYZE, "systemd-analyze is missing: apt-get install systemd"
    copies = [in_checkout(unit, tmp_path) for unit in (DOOR_UNIT, WEB_UNIT)]
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *map(str, copies)], capture_output=True, text=True, timeout=60
    )
    about_us = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "openplus-door" in line or str(tmp_path) in line
    ]
    assert done.returncode == 0 and not about_us, done.stdout + done.stderr


@pytest.mark.skipif(NO_VERIFY, reason="systemd-analyze is not installed (Debian package `systemd`)")
def test_verify_would_catch_a_broken_unit(tmp_path):
    """The check above is not toothless: a misspelt key and a missing program are reported."""
    copy = in_checkout(DOOR_UNIT, tmp_path)
    copy.write_text(
        copy.read_text()
        .replace("WatchdogSec=", "WatchdogSecs=")
        .replace(f"{Path(sys.executable).parent}/openplus-door serve", "/nonexistent/openplus-door serve")
    )
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert "WatchdogSecs" in output and "/nonexistent/openplus-door" in output


def test_the_door_unit_is_notify_with_a_watchdog_and_relay_off_around_it():
    door = directives(DOOR_UNIT)
    assert door["Type"] == ["notify"] and door["NotifyAccess"] == ["main"]
    assert door["WatchdogSec"] == ["10s"]
    assert door["ExecStart"] == ["/opt/openplus-door/.venv/bin/openplus-door serve"]
    relay_off = "/opt/openplus-door/.venv/bin/openplus-door relay-off"
    assert door["ExecStartPre"] == [relay_off] and door["ExecStopPost"] == [relay_off]
    assert int(door["TimeoutStopSec"][0]) <= 5  # the door exits within 3 s of SIGTERM
    assert door["Restart"] == ["always"]
    text = (UNITS / DOOR_UNIT).read_text()
    assert WEB_UNIT not in "\n".join(line for line in text.splitlines() if not line.startswith("#")), (
        "the door never needs web"
    )


def test_the_web_unit_is_niced_capped_restarted_and_never_takes_the_door_down():
    web = directives(WEB_UNIT)
    assert web["ExecStart"][0].startswith("/opt/openplus-door/.venv/bin/openplus-door web")
    assert web["Nice"] == ["10"] and web["MemoryMax"] == ["512M"]
    assert int(web["CPUWeight"][0]) < 100 < int(directives(DOOR_UNIT)["CPUWeight"][0])
    assert int(web["IOWeight"][0]) < 100 < int(directives(DOOR_UNIT)["IOWeight"][0])
    assert web["Restart"] == ["always"]
    assert DOOR_UNIT in web["After"][0] and DOOR_UNIT in web["Wants"][0]
    for binding in (
        "Requires",
        "Requisite",
        "BindsTo",
        "PartOf",
        "Upholds",
        "PropagatesStopTo",
        "PropagatesReloadTo",
    ):
        assert binding not in web, f"{binding}= would tie the door to the web unit"
    door, web_env = directives(DOOR_UNIT), web["Environment"]
    assert sorted(web_env) == sorted(door["Environment"])  # same config and data directory
    for hardening in (
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "ReadWritePaths",
        "UMask",
        "User",
        "Group",
    ):
        assert web[hardening] == door[hardening], hardening
