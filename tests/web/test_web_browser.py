"""End to end in a real headless Chromium (Debian's, via chromedriver and Selenium): the pages
served by uvicorn on 127.0.0.1, on a temporary data directory. Takes the screenshots that
docs/pages.md shows (desktop 1280x900 and phone 375x812): into pytest's temporary directory, or
into OPENPLUS_SCREENSHOT_DIR when that is set (docs/pages.md: how to refresh docs/screenshots)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from controller.api.server import ApiServer
from controller.app import create_app
from controller.config.settings import CameraSettings, parse_settings
from controller.domain.events import EventType
from controller.http.services import ApiServices
from controller.services.footage import FootageService
from controller.services.passwords import Passwords
from controller.services.runtime import Runtime
from controller.services.use_cases import user_admin
from tests.api.api_support import CHEAP_PASSWORDS, PASSWORD, ROLE_USERS
from tests.browser_support import chromium, shots_folder  # skips the module without Chromium
from tests.conftest import FakeClock
from tests.web.web_support import BAD_ROW, GOOD_ROWS, FollowingDoor, member_csv, record_event, register_clip

# A real browser: `browser` (skip it with -m "not browser"), and slow, so left out of `./dev fast`
# and of the date guard (./dev test).
pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Every scene is still (the video paused at the event), so a run that changes no page takes the
# pictures docs/pages.md links as they were, but for a few pixels of the clip's frame.
SIZES = {"desktop": (1280, 900, False), "phone": (375, 812, True)}
WAIT = 10  # seconds: an upper bound for the page to get somewhere, never a sleep

# Wednesday 25 November 2026, 21:30 in the branch (UTC+1): the clock stands still.
NOW = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)


class Branch:
    """The app on a temporary data directory, served on a free port, with seeded data."""

    def __init__(self, data_dir: Path) -> None:
        self.clock = FakeClock(NOW)
        self.runtime = Runtime.open(
            parse_settings({"storage": {"data_dir": str(data_dir)}}, "e2e"), clock=self.clock
        )
        self.footage_dir = data_dir / "footage"
        self.door = FollowingDoor(self.clock)
        passwords = Passwords(CHEAP_PASSWORDS)
        self.services = ApiServices(
            runtime=self.runtime,
            door=self.door,
            schedule_changed=self.door.schedule_changed,
            passwords=passwords,
            footage=FootageService(
                CameraSettings(), self.footage_dir, self.runtime.connection, "entrance", self.clock
            ),
        )
        with closing(self.runtime.connection()) as conn:
            admin = user_admin(self.runtime, conn, passwords)
            for name, role in ROLE_USERS.items():
                admin.create(name, PASSWORD, [role], "test:setup")
            admin.create_token("sec", "camera wall", "test:setup", timedelta(days=90))
        self.server = ApiServer(create_app(self.services), "127.0.0.1", 0)

    def member_count(self) -> int:
        with closing(self.runtime.connection()) as conn:
            return conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]


def served_branch(prefix: str) -> Iterator[Branch]:
    """A module's branch: a fresh data directory (named from `prefix`), its server on a free
    port at `base`; stopped and removed when the module is done."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    branch = Branch(data_dir)
    branch.server.start()
    branch.base = f"http://127.0.0.1:{branch.server.port}"  # type: ignore[attr-defined]
    yield branch
    branch.server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def branch() -> Iterator[Branch]:
    yield from served_branch("opd-web-")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: OPENPLUS_SCREENSHOT_DIR if set, else a temporary directory."""
    return shots_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium(1280, 900) as driver:
        yield driver


# --- helpers ---------------------------------------------------------------------------------
def go(driver: WebDriver, branch: Branch, path: str) -> None:
    driver.get(branch.base + path)  # type: ignore[attr-defined]


def wait_for(driver: WebDriver, condition, message: str):
    return WebDriverWait(driver, WAIT).until(condition, message)


def click_through(driver: WebDriver, element: WebElement) -> None:
    """Click a link or submit button and wait until the next page has loaded, so that what the
    test looks for next is never found on the page it left (a race the CI once lost). The old
    page is marked on its window object, which a new page does not inherit; while the browser
    is between pages the driver may raise odd errors, which only mean "not yet"."""
    driver.execute_script("window.opdPageLeft = true;")
    element.click()
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.opdPageLeft === undefined && document.readyState === 'complete';"
        ),
        "the click did not load a new page",
    )


def screenshots(driver: WebDriver, folder: Path, name: str) -> None:
    """The page at both widths (the viewport is emulated exactly, then put back)."""
    for size, (width, height, mobile) in SIZES.items():
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        driver.execute_script("window.scrollTo(0, 0)")
        assert driver.save_screenshot(str(folder / f"{name}-{size}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def sign_in_as(driver: WebDriver, branch: Branch, user: str) -> None:
    driver.delete_all_cookies()
    go(driver, branch, "/signin")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    click_through(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    wait_for(driver, lambda d: d.current_url.endswith("/today"), f"{user} did not land on Today")


def text_of(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def status_of(driver: WebDriver, path: str) -> int:
    """The HTTP status of a GET made by the page itself, with its session cookie."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => done(r.status));",
        path,
    )


# --- scenarios (in file order: one browser and one server for all) -----------------------------
def test_sign_in_page_then_today(browser: WebDriver, branch: Branch, shots: Path) -> None:
    go(browser, branch, "/today")
    wait_for(browser, lambda d: "/signin" in d.current_url, "no redirect to sign in")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "nl"
    screenshots(browser, shots, "signin")
    sign_in_as(browser, branch, "manny")
    assert text_of(browser, "h1") == "Vandaag"
    assert text_of(browser, "[data-field=mode_label]") == "Gesloten"  # nothing stored yet


def test_schedule_edit_shows_the_problem_at_its_day_keeps_the_input_and_then_changes_the_mode(
    browser: WebDriver, branch: Branch, shots: Path
) -> None:
    sign_in_as(browser, branch, "manny")
    go(browser, branch, "/schedule")
    for _ in range(2):  # two windows on Wednesday (the button keeps what is typed)
        click_through(browser, browser.find_element(By.CSS_SELECTOR, "button[value='add:wednesday']"))
    assert browser.find_elements(By.ID, "wednesday-1-start"), "no second row added"
    browser.find_element(By.ID, "wednesday-0-start").send_keys("09:00")
    browser.find_element(By.ID, "wednesday-0-end").send_keys("13:00")
    browser.find_element(By.CSS_SELECTOR, "#wednesday-0-kind option[value=staffed]").click()
    browser.find_element(By.ID, "wednesday-1-start").send_keys("12:00")
    browser.find_element(By.ID, "wednesday-1-end").send_keys("22:00")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "button.primary[value=save]"))
    problems = wait_for(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#day-wednesday .problems"),
        "the overlap is not shown at Wednesday",
    )
    assert "overlapt met" in problems[0].text
    assert browser.find_element(By.ID, "wednesday-1-start").get_attribute("value") == "12:00"
    assert branch.door.schedule.weekly.wednesday == []  # nothing saved
    screenshots(browser, shots, "schedule-invalid")

    start = browser.find_element(By.ID, "wednesday-1-start")
    start.clear()
    start.send_keys("13:00")
    browser.find_element(By.ID, "holiday-eerste_kerstdag").click()
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "button.primary[value=save]"))
    wait_for(browser, lambda d: "saved=1" in d.current_url, "the schedule was not saved")
    assert text_of(browser, "#mode-now") == "Open+"
    assert "Woensdag" in text_of(browser, "#preview")
    screenshots(browser, shots, "schedule")
    go(browser, branch, "/today")
    assert text_of(browser, "[data-field=mode_label]") == "Open+"
    assert "22:00" in text_of(browser, "[data-field=next]")


def test_import_with_a_bad_row_lists_it_and_changes_nothing(
    browser: WebDriver, branch: Branch, shots: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(member_csv(GOOD_ROWS))
    bad = tmp_path / "export.csv"
    bad.write_bytes(member_csv([*GOOD_ROWS, BAD_ROW, "P0001;29990000009999;Dubbel;ja;2027-12-31;;"]))
    sign_in_as(browser, branch, "manny")

    go(browser, branch, "/members")
    browser.find_element(By.ID, "import-file").send_keys(str(bad))
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/members/import'] button"))
    table = wait_for(browser, lambda d: d.find_elements(By.ID, "bad-rows"), "bad rows not listed")[0]
    lines = [
        row.find_element(By.TAG_NAME, "td").text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert "7" in lines and "8" in lines  # header is line 1: the bad row and the duplicate
    assert "patron_id P0001 staat er twee keer in" in table.text
    assert not browser.find_elements(By.ID, "confirm-import")
    assert branch.member_count() == 0
    screenshots(browser, shots, "import-rejected")

    go(browser, branch, "/members")
    browser.find_element(By.ID, "import-file").send_keys(str(good))
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/members/import'] button"))
    wait_for(browser, lambda d: d.find_elements(By.ID, "confirm-import"), "no confirm step")
    assert "5" in text_of(browser, "#counts")
    assert branch.member_count() == 0  # a preview changes nothing
    screenshots(browser, shots, "import-preview")
    click_through(browser, browser.find_element(By.ID, "confirm-import"))
    wait_for(browser, lambda d: d.find_elements(By.ID, "imported"), "import not confirmed")
    assert branch.member_count() == 5
    go(browser, branch, "/members")
    assert "P0003" in text_of(browser, "#members")
    screenshots(browser, shots, "members")


def test_an_entry_plays_its_clip_in_the_page(browser: WebDriver, branch: Branch, shots: Path) -> None:
    clip_start = NOW - timedelta(minutes=20)
    granted = record_event(
        branch.runtime,
        EventType.ACCESS_GRANTED,
        clip_start + timedelta(seconds=1),
        reason="granted",
        member_ref="P0003",
        card_hint="0003",
    )
    register_clip(branch.runtime, branch.footage_dir, granted, clip_start, seconds=2.0)
    for minutes, reason in ((50, "wrong_pin"), (40, "outside_hours"), (30, "unknown_card")):
        record_event(
            branch.runtime,
            EventType.ACCESS_REFUSED,
            NOW - timedelta(minutes=minutes),
            reason=reason,
            card_hint="1234",
        )
    record_event(branch.runtime, EventType.DOOR_FORCED, NOW - timedelta(minutes=10), reason="forced")
    sign_in_as(browser, branch, "sec")
    assert text_of(browser, "[data-field=granted]") == "1"
    assert text_of(browser, "[data-field=refused]") == "3"
    assert "Deur geforceerd" in text_of(browser, "[data-list=alarms]")
    screenshots(browser, shots, "today")

    go(browser, branch, "/entries?result=granted")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")) == 1
    go(browser, branch, "/entries")
    screenshots(browser, shots, "entries")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, f"a[href='/entries/{granted}']"))
    video = wait_for(browser, lambda d: d.find_elements(By.ID, "clip"), "no video element")[0]
    assert video.get_attribute("src").endswith(f"/entries/{granted}/video#t=1.0")
    loaded = wait_for(
        browser,
        lambda d: d.execute_script(
            "const v = document.getElementById('clip');"
            "return v.readyState >= 1 && v.duration > 0 ? [v.readyState, v.duration, v.currentTime] : null;"
        ),
        "the clip did not load in the <video> element",
    )
    assert 1.5 <= loaded[1] <= 2.5  # the 2 s clip
    assert loaded[2] == pytest.approx(1.0, abs=0.2)  # started at the event (#t=1.0)
    assert browser.find_element(By.ID, "cannot-play").get_attribute("hidden") is not None
    browser.execute_async_script(  # a still frame at the event, not wherever playback got to
        "const v = document.getElementById('clip'), done = arguments[arguments.length - 1];"
        "v.pause(); v.addEventListener('seeked', () => done(v.currentTime), {once: true});"
        "v.currentTime = 1.0;"
    )
    screenshots(browser, shots, "entry-clip")


def test_a_manager_is_refused_the_security_pages(browser: WebDriver, branch: Branch, shots: Path) -> None:
    sign_in_as(browser, branch, "manny")
    for path in ("/entries", "/entries/export.csv", "/entries/1", "/entries/1/video", "/users"):
        assert status_of(browser, path) == 403, path
    go(browser, branch, "/entries")
    assert text_of(browser, "h1") == "Geen toegang"
    assert "security" in text_of(browser, "main")
    assert not browser.find_elements(By.CSS_SELECTOR, "nav a[href='/entries']")  # not in the menu
    screenshots(browser, shots, "forbidden")


def test_admin_users_page_in_english(browser: WebDriver, branch: Branch, shots: Path) -> None:
    sign_in_as(browser, branch, "admin")
    go(browser, branch, "/users")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "a[href^='/lang?to=en']"))
    wait_for(
        browser,
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en",
        "the language switch did not switch",
    )
    assert text_of(browser, "h1") == "Users"
    assert "camera wall" in text_of(browser, "#tokens")
    screenshots(browser, shots, "users")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "a[href^='/lang?to=nl']"))
    wait_for(
        browser,
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "nl",
        "could not switch back",
    )
