"""Headless Chromium for the browser tests (Debian's chromium and chromedriver, via Selenium):
the pages' tests (tests/web/test_web_browser.py) and the door screen's (tests/screen/).

Import this module before selenium: it skips the importing test module when the browser is not
installed (CI must have it), so selenium is imported only where it can be used."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS_ENV = "OPENPLUS_SCREENSHOT_DIR"  # screenshots go there (docs/), else to a temporary folder

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs /usr/bin/chromium and /usr/bin/chromedriver (./dev test installs them)")
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (./dev test installs them as root)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402


@contextmanager
def chromium(width: int, height: int) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile and a `width`x`height` window; quit after."""
    profile = tempfile.mkdtemp(prefix="opd-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--mute-audio",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shots_folder(factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: OPENPLUS_SCREENSHOT_DIR if set, else a temporary directory, so
    that a test run writes nothing into the checkout."""
    wanted = os.environ.get(SHOTS_ENV)
    folder = Path(wanted) if wanted else factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
