"""The Statistics page in a real headless Chromium (Debian's, via chromedriver and Selenium) on
a generated month of events (tests/statistics_support.py), served by uvicorn on 127.0.0.1:
the charts drawn, their accessible names, the tables, the month page as printed. The
screenshot docs/statistics.png comes from here: written into OPENPLUS_SCREENSHOT_DIR when that
is set (`OPENPLUS_SCREENSHOT_DIR=docs`), else into pytest's temporary directory."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from controller.api.server import ApiServer
from controller.app import create_app
from controller.config.settings import parse_settings
from controller.http.services import ApiServices
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from tests.api.api_support import CHEAP_PASSWORDS, PASSWORD, ROLE_USERS
from tests.browser_support import chromium, shots_folder  # skips the module without Chromium
from tests.conftest import FakeClock
from tests.statistics_support import MONTH_FIRST, MONTH_LAST, generate_month, write_events
from tests.web.web_support import FollowingDoor

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT = 10  # seconds: an upper bound for the page to get somewhere, never a sleep
NOW = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)  # early April: March is complete


class Branch:
    """The app on a temporary data directory with March 2026 in its event log."""

    def __init__(self, data_dir: Path) -> None:
        self.clock = FakeClock(NOW)
        self.runtime = Runtime.open(
            parse_settings({"storage": {"data_dir": str(data_dir)}}, "e2e"), clock=self.clock
        )
        self.door = FollowingDoor(self.clock)
        passwords = Passwords(CHEAP_PASSWORDS)
        self.services = ApiServices(
            runtime=self.runtime,
            door=self.door,
            schedule_changed=self.door.schedule_changed,
            passwords=passwords,
        )
        with closing(self.runtime.connection()) as conn:
            admin = user_admin(self.runtime, conn, passwords)
            for name, role in ROLE_USERS.items():
                admin.create(name, PASSWORD, [role], "test:setup")
        self.month = generate_month()
        write_events(self.runtime, self.month.events)
        self.server = ApiServer(create_app(self.services), "127.0.0.1", 0)
        self.base = ""


@pytest.fixture(scope="module")
def branch() -> Iterator[Branch]:
    data_dir = Path(tempfile.mkdtemp(prefix="opd-stats-"))
    branch = Branch(data_dir)
    branch.server.start()
    branch.base = f"http://127.0.0.1:{branch.server.port}"
    yield branch
    branch.server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium(1280, 900) as driver:
        yield driver


def go(driver: WebDriver, branch: Branch, path: str) -> None:
    driver.get(branch.base + path)
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.readyState") == "complete", f"{path} did not load"
    )


def sign_in(driver: WebDriver, branch: Branch, user: str) -> None:
    go(driver, branch, "/signin")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/today"), "not signed in")


def test_the_statistics_page_draws_a_month(
    browser: WebDriver, branch: Branch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sign_in(browser, branch, "manny")
    browser.find_element(By.CSS_SELECTOR, "nav a[href='/statistics']").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.current_url.endswith("/statistics"), "no page")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Statistiek"
    go(browser, branch, "/statistics?start=2026-03-01&end=2026-03-31&by=day")
    entries = browser.find_element(By.CSS_SELECTOR, "#chart-entries svg")
    assert entries.get_attribute("role") == "img"
    assert (
        entries.find_element(By.TAG_NAME, "title").get_attribute("textContent") == "Binnenkomsten per periode"
    )
    assert f"{len(branch.month.granted)} binnenkomsten" in entries.find_element(
        By.TAG_NAME, "desc"
    ).get_attribute("textContent")
    # Drawn, not just sent: the bars have a size on screen, stacked Open+ on staffed.
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart-entries rect.bar-openplus")
    assert len(bars) == 31 and all(bar.rect["height"] > 0 for bar in bars)
    colour = browser.execute_script("return getComputedStyle(arguments[0]).fill", bars[0])
    assert colour == "rgb(0, 114, 178)"  # from statistics.css: the CSP allowed the stylesheet
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-hours rect")) == 15  # 08-21, 01, 03
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-refusals rect")
    table = browser.find_element(By.ID, "table-entries")
    assert not table.is_displayed()  # in a closed <details> until asked for
    browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=h-entries] summary").click()
    assert table.is_displayed()
    assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 31
    browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=h-entries] summary").click()
    browser.execute_script("window.scrollTo(0, 0)")
    shots = shots_folder(tmp_path_factory)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {  # the totals and two charts
            "width": 1280,
            "height": 1500,
            "deviceScaleFactor": 1,
            "mobile": False,
        },
    )
    try:
        assert browser.save_screenshot(str(shots / "statistics.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert (shots / "statistics.png").stat().st_size > 10_000


def test_the_month_page_prints_without_the_menu(browser: WebDriver, branch: Branch) -> None:
    sign_in(browser, branch, "sec")
    go(browser, branch, "/statistics/month?month=2026-03")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Maandoverzicht maart 2026"
    header = browser.find_element(By.CSS_SELECTOR, "header.top")
    assert header.is_displayed()
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not header.is_displayed()
        assert not browser.find_element(By.CSS_SELECTOR, "nav.pager").is_displayed()
        days = browser.find_element(By.ID, "table-days")
        assert days.is_displayed() and len(days.find_elements(By.CSS_SELECTOR, "tbody tr")) == 31
        assert browser.find_element(By.ID, "table-refusals").is_displayed()  # open for print
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    first, last = MONTH_FIRST.isoformat(), MONTH_LAST.isoformat()
    assert f"{first} tot en met {last}" in browser.find_element(By.CSS_SELECTOR, "article p.muted").text
