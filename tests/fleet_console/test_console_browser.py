"""The console's pages in a real headless Chromium (Debian's, via Selenium), served by uvicorn on
127.0.0.1 with the link subscribed to a real Mosquitto: the overview, the log filtered to one
branch, a schedule edited and sent to all, and the applied view filling in as the branches'
acks arrive through the broker. The screenshots docs/fleet-*.png come from here: written into
OPENPLUS_SCREENSHOT_DIR when it is set (`OPENPLUS_SCREENSHOT_DIR=docs`), else into pytest's
temporary directory, so a normal run writes nothing into the checkout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from controller.api.server import ApiServer
from controller.services.fleet.messages import heartbeat_message
from fleet_console.service.runtime import ConsoleRuntime
from fleet_console.web.app import create_console_app
from tests.browser_support import chromium, shots_folder  # skips the module without Chromium
from tests.conftest import FakeClock
from tests.fleet_console.conftest import NOW, PREFIX, BranchClient
from tests.fleet_console.console_web_support import PASSWORD, event, fleet_day, new_console, state, take_in
from tests.mqtt_support import HANG_GUARD, Broker

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT = 10  # seconds: an upper bound for a page to get somewhere, never a sleep
MORE = ("beilen", "coevorden", "hoogeveen", "roden", "zuidlaren")


@pytest.fixture
def served(tmp_path: Path, clock: FakeClock, quiet_broker: Broker) -> Iterator[tuple[ConsoleRuntime, str]]:
    console = new_console(tmp_path, clock, quiet_broker.port)
    messages = fleet_day()
    for n, branch in enumerate(MORE):
        messages.append((branch, "state", state(branch, mode="staffed" if n % 2 else "openplus")))
        messages.append((branch, "heartbeat", heartbeat_message(branch, NOW - timedelta(seconds=20 * n), 0)))
        messages.extend(
            (branch, "events", event(branch, k, minutes_ago=3 * k + n)) for k in range(1, 4 + 2 * n)
        )
    take_in(console, messages)
    link = console.start_link()
    assert link.subscribed.wait(HANG_GUARD)
    server = ApiServer(create_console_app(console), "127.0.0.1", 0)
    server.start()
    try:
        yield console, f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        console.stop()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium(1280, 900) as driver:
        yield driver


def go(driver: WebDriver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script("return document.readyState") == "complete")


def shoot(driver: WebDriver, folder: Path, name: str, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        assert driver.save_screenshot(str(folder / name))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert (folder / name).stat().st_size > 10_000


def test_overview_log_schedule_to_all_and_the_applied_view(
    served: tuple[ConsoleRuntime, str],
    browser: WebDriver,
    quiet_broker: Broker,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    console, base = served
    shots = shots_folder(tmp_path_factory)
    go(browser, base + "/overview")
    browser.find_element(By.ID, "username").send_keys("ada")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.current_url.endswith("/overview"), "not signed in")

    rows = browser.find_elements(By.CSS_SELECTOR, "#branches tbody tr")
    assert len(rows) == 3 + len(MORE)
    assert browser.find_element(By.CSS_SELECTOR, "#branch-emmen .alerts").text == "1"
    assert browser.find_element(By.CSS_SELECTOR, "#branch-assen .entries").text == "7"
    assert "Connected to the broker" in browser.find_element(By.ID, "link-status").text
    colour = browser.execute_script(
        "return getComputedStyle(document.querySelector('#branch-emmen .badge.door-alarm')).backgroundColor"
    )
    assert colour == "rgb(176, 0, 32)"  # the branch's stylesheet, allowed by the CSP
    shoot(browser, shots, "fleet-overview.png", 900)

    browser.find_element(By.CSS_SELECTOR, "nav a[href='/log']").click()
    browser.find_element(By.ID, "f-emmen").click()
    browser.find_element(By.CSS_SELECTOR, "#filter button[type=submit]").click()
    WebDriverWait(browser, WAIT).until(lambda d: "branch=emmen" in d.current_url)
    branches = {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#log td.branch")}
    assert branches == {"emmen"}
    shoot(browser, shots, "fleet-log.png", 700)

    browser.find_element(By.CSS_SELECTOR, "nav a[href='/send/schedule']").click()
    browser.find_element(By.CSS_SELECTOR, "button[value='add:monday']").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.find_elements(By.ID, "monday-0-start"))
    browser.find_element(By.ID, "monday-0-start").send_keys("08:00")
    browser.find_element(By.ID, "monday-0-end").send_keys("22:00")
    assert browser.find_element(By.ID, "all").is_selected()  # all branches by default
    shoot(browser, shots, "fleet-schedule.png", 900)
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, WAIT).until(lambda d: "/commands/" in d.current_url, "not sent")
    command_id = browser.current_url.rsplit("/", 1)[1]
    assert browser.find_element(By.ID, "pending").text == str(3 + len(MORE))

    peer = BranchClient(quiet_broker.port, "acks")
    try:
        for branch in ("assen", "emmen", *MORE):
            peer.publish(
                f"{PREFIX}/{branch}/acks",
                {
                    "v": 1,
                    "branch": branch,
                    "command": command_id,
                    "kind": "schedule",
                    "version": 1,
                    "status": "refused" if branch == "roden" else "applied",
                    "reason": "stale or replayed: version 1 of schedule, already applied version 4"
                    if branch == "roden"
                    else None,
                    "at": "2026-06-10T10:00:02Z",
                },
            )
    finally:
        peer.close()

    def answered(driver: WebDriver) -> bool:
        driver.refresh()
        return driver.find_element(By.ID, "pending").text == "1"  # meppel: offline, no answer yet

    WebDriverWait(browser, WAIT, poll_frequency=0.1).until(answered, "the acks did not arrive")
    assert browser.find_element(By.ID, "applied").text == str(2 + len(MORE) - 1)
    assert "offline" in browser.find_element(By.ID, "target-meppel").text
    assert "refused" in browser.find_element(By.ID, "target-roden").text
    shoot(browser, shots, "fleet-applied.png", 800)
