"""The kiosk's systemd user unit: Chromium in kiosk mode on the door screen's loopback URL,
after the graphical session; `systemd-analyze verify` finds nothing to say about it."""

from __future__ import annotations

import re
import subprocess

import pytest

from controller.config.screen import ScreenSettings
from tests.door_process.test_systemd_units import NO_VERIFY, SYSTEMD_ANALYZE, UNITS, directives

SCREEN_UNIT = "openplus-door-screen.service"


def test_the_kiosk_opens_the_screens_default_url_after_the_graphical_session() -> None:
    unit = directives(SCREEN_UNIT)
    (start,) = unit["ExecStart"]
    command = start.split()
    assert command[0] == "/usr/bin/chromium"
    assert {"--kiosk", "--noerrdialogs", "--disable-infobars"} <= set(command)
    url = f"http://127.0.0.1:{ScreenSettings().port}/"
    assert f"--app={url}" in command
    assert f"{url}state" in unit["ExecStartPre"][0] and unit["ExecStartPre"][0].startswith("-")
    assert unit["After"] == ["graphical-session.target"]
    assert unit["WantedBy"] == ["graphical-session.target"]
    assert unit["Restart"] == ["always"]
    assert "User" not in unit, "a user unit runs as the desktop's user"


def test_no_address_in_the_unit_but_loopback() -> None:
    text = (UNITS / SCREEN_UNIT).read_text(encoding="utf-8")
    assert set(re.findall(r"https?://([^/:]+)", text)) == {"127.0.0.1"}


@pytest.mark.skipif(NO_VERIFY, reason="systemd-analyze is not installed (Debian package `systemd`)")
def test_systemd_analyze_verify_passes_on_the_kiosk_unit() -> None:
    assert SYSTEMD_ANALYZE, "systemd-analyze is missing: apt-get install systemd"
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(UNITS / SCREEN_UNIT)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
