"""The door screen without a browser: its settings, what each door state shows (pictogram,
words, PIN dots, countdowns), the event stream (state at once, beats, `down`), the page's words
from the catalog, and a door that keeps working when the screen's port is taken. The page in a
real Chromium against a running simulator: tests/screen/test_door_screen_browser.py."""

from __future__ import annotations

import http.client
import json
import socket
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.config.screen import ScreenSettings
from controller.config.settings import ConfigError, parse_settings
from controller.domain import messages
from controller.domain.decision import Reason
from controller.domain.events import DoorAlarm
from controller.domain.messages import door_message
from controller.domain.modes import DoorMode
from controller.door.ports import DoorSnapshot, Phase
from controller.door.screen.feed import Picture, ScreenFeed, Tone, picture_for
from controller.door.screen.server import DoorScreen, page_texts
from tests.conftest import FakeClock

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
IDLE = DoorSnapshot(
    mode=DoorMode.OPENPLUS,
    phase=Phase.IDLE,
    relay_unlocked=False,
    door_open=False,
    alarm=None,
    message=messages.PROMPT_CARD,
    pin_keys=0,
    at=NOW,
)


# --- settings ----------------------------------------------------------------------------------
def test_screen_is_off_by_default_and_on_loopback() -> None:
    settings = parse_settings({}, "test").screen
    assert settings.enabled is False and settings.host == "127.0.0.1"
    on = parse_settings({"screen": {"enabled": True, "host": "::1", "port": 8011}}, "t").screen
    assert on.enabled and on.host == "::1" and on.port == 8011


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "door.example"])
def test_a_non_loopback_bind_address_is_refused_by_name(host: str) -> None:
    with pytest.raises(ConfigError, match=r"screen\.host: .*loopback address only"):
        parse_settings({"screen": {"host": host}}, "t")


def test_the_page_must_not_call_a_late_beat_an_outage() -> None:
    with pytest.raises(ConfigError, match="at least twice heartbeat_seconds"):
        parse_settings({"screen": {"heartbeat_seconds": 2.0, "offline_after_seconds": 3.0}}, "t")
    with pytest.raises(ConfigError, match=r"screen\.offline_after_seconds"):
        parse_settings({"screen": {"offline_after_seconds": 6}}, "t")  # issue 14: within 5 s


def test_the_server_itself_refuses_a_non_loopback_address() -> None:
    settings = ScreenSettings.model_construct(host="0.0.0.0", port=0)  # past the validator
    with pytest.raises(ValueError, match="loopback"):
        DoorScreen(settings, ScreenFeed(5.0, FakeClock(NOW)))


# --- what each state shows ---------------------------------------------------------------------
@pytest.mark.parametrize("reason", [r for r in Reason if r not in (Reason.GRANTED, Reason.READER_SLOWED)])
def test_every_refusal_shows_stop_in_red(reason: Reason) -> None:
    snapshot = replace(IDLE, message=door_message(reason))
    assert picture_for(snapshot, closing=False) == (Picture.STOP, Tone.BAD, door_message(reason))


@pytest.mark.parametrize(
    ("snapshot", "picture", "tone"),
    [
        (IDLE, Picture.CARD, Tone.NEUTRAL),
        (replace(IDLE, phase=Phase.AWAITING_PIN, message=messages.PROMPT_PIN), Picture.KEYPAD, Tone.NEUTRAL),
        (replace(IDLE, phase=Phase.CHECKING, message=messages.CHECKING), Picture.WAIT, Tone.NEUTRAL),
        (replace(IDLE, message=door_message(Reason.READER_SLOWED)), Picture.WAIT, Tone.NEUTRAL),
        (replace(IDLE, message=messages.HELP_REQUESTED), Picture.WAIT, Tone.NEUTRAL),  # help button
        (
            replace(IDLE, phase=Phase.UNLOCKED, relay_unlocked=True, message=door_message(Reason.GRANTED)),
            Picture.DOOR,
            Tone.GOOD,
        ),
        (replace(IDLE, phase=Phase.UNLOCKED, relay_unlocked=True), Picture.DOOR, Tone.GOOD),  # exit button
        (replace(IDLE, message=messages.DOOR_FREE), Picture.DOOR, Tone.GOOD),
        (replace(IDLE, message=messages.FAULT), Picture.STOP, Tone.BAD),
        (replace(IDLE, door_open=True, alarm=DoorAlarm.FORCED), Picture.STOP, Tone.BAD),
    ],
)
def test_each_state_has_its_pictogram(snapshot: DoorSnapshot, picture: Picture, tone: Tone) -> None:
    assert picture_for(snapshot, closing=False)[:2] == (picture, tone)


def test_a_door_held_open_asks_to_close_it_and_a_closing_warning_shows_the_clock() -> None:
    held = picture_for(replace(IDLE, door_open=True, alarm=DoorAlarm.HELD_OPEN), closing=False)
    assert held[:2] == (Picture.DOOR, Tone.BAD) and held[2].nl == "Sluit de deur a.u.b."
    assert picture_for(replace(IDLE, message=messages.closing_message(5)), closing=True)[0] is Picture.CLOCK


def test_typing_again_after_a_wrong_pin_shows_the_keypad() -> None:
    wrong = replace(IDLE, phase=Phase.AWAITING_PIN, message=door_message(Reason.WRONG_PIN))
    assert picture_for(wrong, closing=False)[0] is Picture.STOP
    assert picture_for(replace(wrong, pin_keys=1), closing=False)[:3] == (
        Picture.KEYPAD,
        Tone.NEUTRAL,
        messages.PROMPT_PIN,
    )


# --- the feed ----------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def test_the_pin_is_a_count_only_while_it_is_typed(clock: FakeClock) -> None:
    feed = ScreenFeed(5.0, clock)
    feed.update(replace(IDLE, phase=Phase.AWAITING_PIN, message=messages.PROMPT_PIN, pin_keys=3))
    state = feed.current()
    assert state is not None and state.pin_keys == 3 and state.picture is Picture.KEYPAD
    assert (state.nl, state.en, state.mode_nl) == (messages.PROMPT_PIN.nl, messages.PROMPT_PIN.en, "Open+")
    feed.update(IDLE)
    assert feed.current().pin_keys is None  # type: ignore[union-attr]


def test_a_tick_that_changes_nothing_on_screen_is_no_new_version(clock: FakeClock) -> None:
    feed = ScreenFeed(5.0, clock)
    feed.update(IDLE)
    feed.update(replace(IDLE, at=NOW + timedelta(seconds=1), relay_unlocked=False))
    assert feed.current().version == 1  # type: ignore[union-attr]
    feed.update(replace(IDLE, mode=DoorMode.CLOSED))
    state = feed.current()
    assert state is not None and state.version == 2 and state.mode_nl == "Gesloten"


def test_the_unlock_countdown_runs_from_the_start_of_the_pulse(clock: FakeClock) -> None:
    feed = ScreenFeed(5.0, clock)
    granted = replace(IDLE, phase=Phase.UNLOCKED, relay_unlocked=True, message=door_message(Reason.GRANTED))
    feed.update(granted)
    assert feed.current().unlock_seconds == 5.0  # type: ignore[union-attr]
    feed.update(replace(granted, door_open=True, at=NOW + timedelta(seconds=1.5)))  # the door opens
    assert feed.current().unlock_seconds == 5.0  # type: ignore[union-attr]  # no new version: same screen
    feed.update(replace(granted, message=messages.PROMPT_CARD, at=NOW + timedelta(seconds=4)))
    assert feed.current().unlock_seconds == 1.0  # type: ignore[union-attr]
    feed.update(replace(IDLE, at=NOW + timedelta(seconds=5)))  # relocked
    assert feed.current().unlock_seconds is None  # type: ignore[union-attr]


def test_a_closing_warning_counts_down_until_the_mode_changes(clock: FakeClock) -> None:
    feed = ScreenFeed(5.0, clock)
    feed.update(IDLE)
    feed.closing_in(15)
    assert feed.current().closing_seconds == 900.0  # type: ignore[union-attr]
    clock.advance(minutes=5)
    feed.update(replace(IDLE, message=messages.closing_message(10), at=clock()))
    state = feed.current()
    assert state is not None and state.closing_seconds == 600.0 and state.picture is Picture.CLOCK
    clock.advance(minutes=10)
    feed.update(replace(IDLE, mode=DoorMode.CLOSED, at=clock()))
    assert feed.current().closing_seconds is None  # type: ignore[union-attr]


def test_wait_newer_returns_the_next_version_or_none_after_the_timeout(clock: FakeClock) -> None:
    feed = ScreenFeed(5.0, clock)
    assert feed.wait_newer(0, timeout=0) is None  # nothing yet
    feed.update(IDLE)
    version, data = feed.wait_newer(0, timeout=0) or (0, "")
    assert version == 1 and json.loads(data)["picture"] == "card"
    assert feed.wait_newer(1, timeout=0) is None
    feed.close()
    assert feed.closed and feed.wait_newer(0, timeout=0) is None


# --- the server --------------------------------------------------------------------------------
@pytest.fixture
def screen(clock: FakeClock) -> Iterator[DoorScreen]:
    feed = ScreenFeed(5.0, clock)
    feed.update(IDLE)
    served = DoorScreen(
        ScreenSettings(enabled=True, port=0, heartbeat_seconds=0.2, offline_after_seconds=1.0, max_clients=1),
        feed,
    )
    served.start()
    yield served
    served.stop()


def get(screen: DoorScreen, path: str, host: str | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", screen.port, timeout=5)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{screen.port}"})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, dict(response.getheaders()), body


def events(screen: DoorScreen) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", screen.port, timeout=5)
    conn.request("GET", "/events")
    return conn, conn.getresponse()


def next_event(response: http.client.HTTPResponse) -> tuple[str, str]:
    """(event name, data) of the next event on the stream."""
    name = data = ""
    while (line := response.fp.readline().decode()) != "\n" or not name:
        if line.startswith("event: "):
            name = line[7:].strip()
        elif line.startswith("data: "):
            data = line[6:].strip()
    return name, data


def test_the_page_has_the_catalogs_words_and_loads_nothing_from_elsewhere(screen: DoorScreen) -> None:
    status, headers, page = get(screen, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert (
        "default-src 'none'" in headers["Content-Security-Policy"] and headers["Cache-Control"] == "no-store"
    )
    texts = page_texts()
    assert texts["offline"] == {"nl": "Storing", "en": "Out of order"}
    assert "{seconds}" in texts["unlocked"]["nl"] and "{time}" in texts["closing"]["en"]
    assert json.dumps(texts, ensure_ascii=False) in page and 'data-offline-after-ms="1000"' in page
    assert "http://" not in page and "https://" not in page  # offline kiosk: nothing external
    for path in ("/screen.js", "/screen.css"):
        assert get(screen, path)[0] == 200
    assert get(screen, "/nothing")[0] == 404


def test_another_host_name_is_refused(screen: DoorScreen) -> None:
    """A page elsewhere pointing its own name at 127.0.0.1 (DNS rebinding) gets nothing."""
    assert get(screen, "/state", host="evil.example")[0] == 421
    assert get(screen, "/state", host=f"localhost:{screen.port}")[0] == 200


def test_the_stream_sends_the_state_at_once_then_beats_then_each_change(screen: DoorScreen) -> None:
    conn, response = events(screen)
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    name, data = next_event(response)
    assert name == "state" and json.loads(data)["nl"] == messages.PROMPT_CARD.nl
    assert next_event(response)[0] == "beat"  # 0.2 s heartbeat: the page's watchdog feeds on it
    screen.feed.update(replace(IDLE, phase=Phase.AWAITING_PIN, message=messages.PROMPT_PIN, pin_keys=2))
    name, data = next_event(response)
    while name == "beat":
        name, data = next_event(response)
    assert name == "state" and json.loads(data)["pin_keys"] == 2
    assert "1234" not in data
    conn.close()


def test_a_stopping_door_ends_the_stream_with_down(screen: DoorScreen) -> None:
    conn, response = events(screen)
    assert next_event(response)[0] == "state"
    screen.feed.close()
    name, _ = next_event(response)
    while name == "beat":
        name, _ = next_event(response)
    assert name == "down"
    conn.close()


def test_more_streams_than_max_clients_are_refused(screen: DoorScreen) -> None:
    conn, response = events(screen)
    assert next_event(response)[0] == "state"
    status, _, body = get(screen, "/events")
    assert status == 503 and "too many" in body
    conn.close()


# --- in the door process -----------------------------------------------------------------------
def test_the_door_runs_without_its_screen_when_the_port_is_taken(tmp_path: Path, monkeypatch) -> None:
    from controller.domain.schedule import Schedule
    from controller.door.branch import BranchService
    from controller.sim.hardware import SimulatedHardware

    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = parse_settings(
            {
                "storage": {"data_dir": str(tmp_path)},
                "screen": {"enabled": True, "port": taken.getsockname()[1]},
            },
            "t",
        )
        sim = SimulatedHardware.create(settings)
        service = BranchService(
            sim.settings, Schedule(), pin_factory=sim.factory, mode_override=DoorMode.OPENPLUS
        )
        sim.at_rest()
        service.start()
        try:
            assert service.screen is None  # logged; the door itself runs
            service.remote_unlock("test")
            assert service.loop.wait_idle(5)
            snapshot = service.snapshot()
            assert snapshot is not None and snapshot.relay_unlocked
        finally:
            service.stop()
            sim.close()


def test_the_door_feeds_its_screen(tmp_path: Path, monkeypatch) -> None:
    from controller.domain.schedule import Schedule
    from controller.door.branch import BranchService
    from controller.sim.hardware import SimulatedHardware

    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    settings = parse_settings(
        {"storage": {"data_dir": str(tmp_path)}, "screen": {"enabled": True, "port": 0}}, "t"
    )
    sim = SimulatedHardware.create(settings)
    service = BranchService(
        sim.settings, Schedule(), pin_factory=sim.factory, mode_override=DoorMode.OPENPLUS
    )
    sim.at_rest()
    service.start()
    try:
        assert service.screen is not None and service.screen.url.startswith("http://127.0.0.1:")
        conn, response = events(service.screen)
        service.remote_unlock("test")
        name, data = next_event(response)
        while name == "beat" or json.loads(data)["picture"] != "door":
            name, data = next_event(response)
        assert json.loads(data)["unlock_seconds"] == settings.door.unlock_seconds
        conn.close()
    finally:
        service.stop()
        sim.close()


def test_the_screens_files_ship_with_the_package() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["controller"]
    controller = REPO / "controller"
    shipped = {path for pattern in globs for path in controller.glob(pattern)}
    assert set((controller / "door" / "screen" / "static").iterdir()) <= shipped


def test_simulate_screen_port_turns_the_screen_on_and_refuses_a_port_out_of_range() -> None:
    from controller.cli.main import build_parser
    from controller.cli.run import _with_screen

    args = build_parser().parse_args(["simulate", "--screen-port", "0"])
    settings = _with_screen(parse_settings({}, "t"), args.screen_port)
    assert settings.screen.enabled and settings.screen.port == 0 and settings.screen.host == "127.0.0.1"
    assert _with_screen(parse_settings({}, "t"), None).screen.enabled is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--screen-port", "70000"])
