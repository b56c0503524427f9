"""The voice (controller/door/voice.py, announcements.py, services/sounds.py): each door message
and each scheduled announcement plays the right files, Dutch then English, at the right moment
on an injected clock; a missing or broken file is an event and never reaches the door."""

from __future__ import annotations

import os
import shutil
import threading
import wave
from contextlib import closing
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from controller.config.settings import ConfigError, Settings, parse_settings
from controller.config.voice import VoiceSettings
from controller.domain.clock import BRANCH_TZ, to_local
from controller.domain.decision import Reason
from controller.domain.events import EventType, OutputFaultReason
from controller.domain.messages import (
    CHECKING,
    DOOR_FREE,
    FAULT,
    PROMPT_CARD,
    PROMPT_PIN,
    TIMED_OUT,
    DoorMessage,
    closing_message,
    door_message,
)
from controller.domain.schedule import parse_schedule
from controller.door.announcements import Announcements
from controller.door.switcher import ModeSwitcher
from controller.door.timers import ClockTimers
from controller.door.voice import CommandPlayer, SoundError, Voice, scaled_wav
from controller.services import sounds
from controller.services.sounds import generate, sound_name, spoken_messages
from tests.conftest import DEMO_CARD, FakeClock


class RecordingPlayer:
    """Plays nothing: records (file under the sounds dir, clock time, volume) for each sound."""

    def __init__(self, sounds_dir: Path, clock: FakeClock) -> None:
        self.sounds_dir = sounds_dir
        self.clock = clock
        self.played: list[tuple[str, datetime, int]] = []
        self.fail: dict[str, SoundError] = {}

    def play(self, path: Path, volume: int) -> None:
        file = path.relative_to(self.sounds_dir).as_posix()
        if file in self.fail:
            raise self.fail[file]
        self.played.append((file, self.clock(), volume))

    def files(self) -> list[str]:
        return [file for file, _, _ in self.played]


def write_wav(path: Path, samples: list[int], rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return path


def all_sounds(sounds_dir: Path, closing_minutes: tuple[int, ...] = (15, 10, 5)) -> None:
    """A tiny WAV for every spoken message in both languages, as `sounds generate` would."""
    for name in spoken_messages(closing_minutes):
        for lang in ("nl", "en"):
            write_wav(sounds_dir / lang / f"{name}.wav", [0, 100, -100, 0])


def voice_settings(sounds_dir: Path, **values: object) -> VoiceSettings:
    return VoiceSettings.model_validate({"enabled": True, "sounds_dir": str(sounds_dir), **values})


class Faults:
    def __init__(self) -> None:
        self.seen: list[tuple[OutputFaultReason, str]] = []

    def __call__(self, reason: OutputFaultReason, detail: str) -> None:
        self.seen.append((reason, detail))


@pytest.fixture
def sounds_dir(tmp_path: Path) -> Path:
    all_sounds(tmp_path / "sounds")
    return tmp_path / "sounds"


def make_voice(sounds_dir: Path, clock: FakeClock, **values: object) -> tuple[Voice, RecordingPlayer, Faults]:
    player, faults = RecordingPlayer(sounds_dir, clock), Faults()
    return Voice(voice_settings(sounds_dir, **values), player, faults, clock), player, faults


# --- door messages -----------------------------------------------------------------------------
def test_each_message_has_its_catalog_key_as_sound_name() -> None:
    assert sound_name(door_message(Reason.WRONG_PIN)) == "wrong_pin"
    assert sound_name(PROMPT_PIN) == "prompt_pin"
    assert sound_name(closing_message(15)) == "closing_15"
    assert sound_name(DoorMessage("Welkom", "Welcome")) is None  # text from the door link
    assert closing_message(15) == DoorMessage(
        "De bibliotheek sluit over 15 minuten", "The library closes in 15 minutes"
    )


EVERY_DOOR_MESSAGE = (
    [door_message(reason) for reason in Reason]
    + [PROMPT_PIN, PROMPT_CARD, TIMED_OUT, DOOR_FREE, FAULT, CHECKING]
    + [closing_message(minutes) for minutes in (15, 10, 5)]
)


@pytest.mark.parametrize("message", EVERY_DOOR_MESSAGE, ids=lambda m: m.key + str(m.values))
def test_each_door_message_plays_its_dutch_then_its_english_file(
    message: DoorMessage, sounds_dir: Path, clock: FakeClock
) -> None:
    voice, player, faults = make_voice(sounds_dir, clock)
    voice.say(message)
    voice.run_pending()
    name = sound_name(message)
    assert player.played == [(f"nl/{name}.wav", clock(), 80), (f"en/{name}.wav", clock(), 80)]
    assert faults.seen == []


def test_quiet_hours_play_at_the_quiet_volume_and_silence_plays_nothing(
    sounds_dir: Path, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 25, 22, 30, tzinfo=BRANCH_TZ).astimezone(UTC)
    voice, player, _ = make_voice(sounds_dir, clock, quiet_from="22:00", quiet_until="07:00")
    voice.say(PROMPT_PIN)
    voice.run_pending()
    assert player.played == []
    voice, player, _ = make_voice(
        sounds_dir, clock, quiet_from="22:00", quiet_until="07:00", quiet_volume=30, volume=90
    )
    voice.say(PROMPT_PIN)
    voice.run_pending()
    clock.now = datetime(2026, 11, 26, 7, 0, tzinfo=BRANCH_TZ).astimezone(UTC)
    voice.say(PROMPT_PIN)  # 07:00: quiet hours are over
    voice.run_pending()
    assert [volume for _, _, volume in player.played] == [30, 30, 90, 90]


def test_quiet_hours_across_midnight() -> None:
    quiet = VoiceSettings(quiet_from=time(22), quiet_until=time(7), quiet_volume=10, volume=70)
    assert [quiet.volume_at(time(h, m)) for h, m in ((21, 59), (22, 0), (0, 0), (6, 59), (7, 0))] == [
        70,
        10,
        10,
        10,
        70,
    ]
    day = VoiceSettings(quiet_from=time(12), quiet_until=time(13))
    assert day.is_quiet(time(12, 30)) and not day.is_quiet(time(13, 0))


def test_a_missing_file_is_one_event_and_the_other_language_still_plays(
    sounds_dir: Path, clock: FakeClock
) -> None:
    (sounds_dir / "nl" / "wrong_pin.wav").unlink()
    voice, player, faults = make_voice(sounds_dir, clock)
    for _ in range(3):
        voice.say(door_message(Reason.WRONG_PIN))
        voice.run_pending()
    assert player.files() == ["en/wrong_pin.wav"] * 3
    assert len(faults.seen) == 1  # once per file, not once per member
    reason, detail = faults.seen[0]
    assert reason is OutputFaultReason.SOUND_MISSING and "nl/wrong_pin.wav" in detail
    write_wav(sounds_dir / "nl" / "wrong_pin.wav", [1, 2])  # the library puts it back...
    voice.say(door_message(Reason.WRONG_PIN))
    voice.run_pending()
    (sounds_dir / "nl" / "wrong_pin.wav").unlink()  # ...and loses it again: a new event
    voice.say(door_message(Reason.WRONG_PIN))
    voice.run_pending()
    assert len(faults.seen) == 2


def test_a_player_failure_is_an_event_and_the_next_file_still_plays(
    sounds_dir: Path, clock: FakeClock
) -> None:
    voice, player, faults = make_voice(sounds_dir, clock)
    player.fail["nl/granted.wav"] = SoundError(OutputFaultReason.PLAYER_FAILED, "aplay exited with 1")
    voice.say(door_message(Reason.GRANTED))
    voice.run_pending()
    assert player.files() == ["en/granted.wav"]
    assert faults.seen == [(OutputFaultReason.PLAYER_FAILED, "aplay exited with 1")]


def test_say_never_waits_and_a_full_queue_drops_the_oldest(sounds_dir: Path, clock: FakeClock) -> None:
    voice, player, _ = make_voice(sounds_dir, clock, queue_size=2)
    for message in (PROMPT_CARD, PROMPT_PIN, door_message(Reason.GRANTED)):
        voice.say(message)  # nothing plays them yet: the thread is not started
    voice.run_pending()
    assert player.files() == ["nl/prompt_pin.wav", "en/prompt_pin.wav", "nl/granted.wav", "en/granted.wav"]


# --- the player ------------------------------------------------------------------------------
def test_the_volume_scales_the_samples(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", [1000, -2000, 30000])
    data, seconds = scaled_wav(path, 50)
    out = tmp_path / "out.wav"
    out.write_bytes(data)
    with wave.open(str(out)) as scaled:
        frames = scaled.readframes(3)
    assert [int.from_bytes(frames[i : i + 2], "little", signed=True) for i in (0, 2, 4)] == [
        500,
        -1000,
        15000,
    ]
    assert seconds == pytest.approx(3 / 8000)


def test_the_command_gets_the_wav_on_its_standard_input(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", [1000, -2000])
    CommandPlayer(f"tee {tmp_path / 'heard.wav'}").play(path, 100)
    assert (tmp_path / "heard.wav").read_bytes() == scaled_wav(path, 100)[0]


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("false", "exited with 1"),
        ("no-such-player-here -q -", "cannot run no-such-player-here"),
    ],
)
def test_a_failing_or_missing_player_is_a_sound_error(tmp_path: Path, command: str, says: str) -> None:
    path = write_wav(tmp_path / "a.wav", [1, 2])
    with pytest.raises(SoundError, match=says) as caught:
        CommandPlayer(command).play(path, 80)
    assert caught.value.reason is OutputFaultReason.PLAYER_FAILED


def test_a_hanging_player_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("controller.door.voice.PLAY_MARGIN_SECONDS", 0.2)
    path = write_wav(tmp_path / "a.wav", [1, 2])
    with pytest.raises(SoundError, match="still playing") as caught:
        CommandPlayer("sleep 30").play(path, 80)
    assert caught.value.reason is OutputFaultReason.PLAYER_FAILED


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"not a wav at all" * 10])
def test_a_broken_file_is_a_sound_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(SoundError) as caught:
        CommandPlayer("aplay -q -").play(path, 80)
    assert caught.value.reason is OutputFaultReason.SOUND_BROKEN


# --- scheduled announcements -------------------------------------------------------------------
def local(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 25, hour, minute, tzinfo=BRANCH_TZ).astimezone(UTC)


def test_each_scheduled_announcement_plays_at_its_moment(sounds_dir: Path) -> None:
    """Wednesday: staffed until 18:00, Open+ 18:00-20:00, then closed. Reminders every 30
    minutes, closing warnings at 15, 10 and 5 minutes: wired as BranchService wires them."""
    clock = FakeClock(local(17, 0))
    schedule = parse_schedule(
        {
            "weekly": {
                "wednesday": [
                    {"start": "07:00", "end": "18:00", "kind": "staffed"},
                    {"start": "18:00", "end": "20:00", "kind": "openplus"},
                ]
            }
        }
    )
    voice, player, faults = make_voice(sounds_dir, clock, repeat_minutes=30)
    timers = ClockTimers(clock)  # never started: the test runs what is due
    announcements = Announcements(voice_settings(sounds_dir, repeat_minutes=30), timers, voice.say, clock)
    switcher = ModeSwitcher(
        schedule,
        announcements.mode_now,
        clock=clock,
        timers=timers,
        closing_warning_minutes=[15, 10, 5],
        on_closing_warning=lambda minutes: voice.say(closing_message(minutes)),
    )
    switcher.start()
    voice.run_pending()
    assert player.played == []  # started in staffed hours: nothing to announce
    while clock() < local(20, 30):
        due = min(timers.pending().values(), default=local(20, 30))
        clock.now = min(due, local(20, 30))
        timers.run_due()
        voice.run_pending()
    heard = [(file, to_local(at).strftime("%H:%M")) for file, at, _ in player.played]
    expected = [
        ("openplus_start", "18:00"),
        ("openplus_reminder", "18:30"),
        ("openplus_reminder", "19:00"),
        ("openplus_reminder", "19:30"),
        ("closing_15", "19:45"),
        ("closing_10", "19:50"),
        ("closing_5", "19:55"),
        ("closed", "20:00"),
    ]
    assert heard == [(f"{lang}/{name}.wav", at) for name, at in expected for lang in ("nl", "en")]
    assert faults.seen == []


def test_a_restart_during_openplus_announces_no_start_and_keeps_the_reminder_rhythm(sounds_dir: Path) -> None:
    clock = FakeClock(local(18, 40))
    schedule = parse_schedule(
        {"weekly": {"wednesday": [{"start": "18:00", "end": "20:00", "kind": "openplus"}]}}
    )
    voice, player, _ = make_voice(sounds_dir, clock)
    timers = ClockTimers(clock)
    announcements = Announcements(voice_settings(sounds_dir, repeat_minutes=30), timers, voice.say, clock)
    ModeSwitcher(schedule, announcements.mode_now, clock=clock, timers=timers).start()
    assert timers.pending()["voice:openplus-reminder"] == local(19, 0)  # 18:00 + 2 x 30
    voice.run_pending()
    assert player.played == []


def test_announcements_can_be_turned_off(sounds_dir: Path) -> None:
    clock = FakeClock(local(17, 0))
    schedule = parse_schedule(
        {"weekly": {"wednesday": [{"start": "18:00", "end": "20:00", "kind": "openplus"}]}}
    )
    voice, player, _ = make_voice(sounds_dir, clock)
    timers = ClockTimers(clock)
    quiet = voice_settings(sounds_dir, announce_openplus_start=False, announce_closed=False)
    ModeSwitcher(
        schedule, Announcements(quiet, timers, voice.say, clock).mode_now, clock=clock, timers=timers
    ).start()
    for moment in (local(18, 0), local(20, 0)):
        clock.now = moment
        timers.run_due()
    voice.run_pending()
    assert player.played == [] and "voice:openplus-reminder" not in timers.pending()


# --- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("voice", "says"),
    [
        ({"quiet_from": "22:00"}, "quiet_from and quiet_until go together"),
        ({"quiet_from": "22:00", "quiet_until": "22:00"}, "the same time"),
        ({"volume": 120}, "voice.volume"),
        ({"repeat_minutes": -1}, "voice.repeat_minutes"),
        ({"command": ""}, "voice.command"),
        ({"loud": True}, "voice.loud: unknown key"),
    ],
)
def test_bad_voice_settings_are_refused_by_name(voice: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_settings({"voice": voice}, "door.toml")


def test_voice_settings_read_from_toml_times() -> None:
    settings = parse_settings(
        {"voice": {"enabled": True, "quiet_from": time(22, 0), "quiet_until": "06:30", "repeat_minutes": 20}},
        "door.toml",
    )
    assert settings.voice.quiet_until == time(6, 30) and settings.voice.repeat_minutes == 20


# --- the wired door ------------------------------------------------------------------------
def until(predicate, timeout: float = 5.0) -> bool:
    """Look every 10 ms, at most `timeout` s (a bounded wait for another thread)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        pause.wait(0.01)
    return predicate()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """conftest's settings (so live_branch's door) with the voice on, one Dutch file missing,
    and an LCD on an I2C bus this machine does not have."""
    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    monkeypatch.delenv("OPENPLUS_DOOR_CONFIG", raising=False)
    all_sounds(tmp_path / "sounds")
    (tmp_path / "sounds" / "nl" / "prompt_pin.wav").unlink()
    return parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "voice": {"enabled": True, "sounds_dir": str(tmp_path / "sounds")},
            "display": {"lcd": {"i2c_port": 19, "size": "16x2"}},
        },
        "test",
    )


def test_the_wired_door_speaks_and_its_faults_are_events_that_never_stop_an_entry(
    live_branch, clock: FakeClock, tmp_path: Path
) -> None:
    sim, service = live_branch
    assert service.voice is not None and service.lcd is not None
    player = RecordingPlayer(tmp_path / "sounds", clock)
    service.voice.player = player
    sim.present_card(DEMO_CARD)
    assert until(lambda: service.snapshot().phase.value == "awaiting_pin")
    sim.press_keys("1234#")
    assert until(lambda: sim.factory.pin(sim.settings.hardware.lock.pin).state == 1), "no grant"
    assert until(lambda: player.files()[-2:] == ["nl/granted.wav", "en/granted.wav"])
    assert player.files() == ["en/prompt_pin.wav", "nl/granted.wav", "en/granted.wav"]
    assert service.writer.flush(5.0)
    with closing(service.runtime.connection()) as conn:
        events = service.runtime.events(conn).query(limit=100)
    faults = {e.reason: e.detail for e in events if e.type is EventType.OUTPUT_FAULT}
    assert "nl/prompt_pin.wav" in faults[OutputFaultReason.SOUND_MISSING.value]
    assert "/dev/i2c-19" in faults[OutputFaultReason.DISPLAY_UNREACHABLE.value]
    assert EventType.ACCESS_GRANTED in {e.type for e in events}


@pytest.mark.slow  # espeak-ng speaks some 50 files: 1-2 s, more under load
def test_espeak_ng_generates_every_default_file(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (./dev test installs Debian's espeak-ng as root)")
    sounds_dir = tmp_path / "sounds"
    write_wav(sounds_dir / "nl" / "granted.wav", [7, 7])  # the library's own recording
    umask = os.umask(0o077)  # as the CLI runs: the door's user must still read them
    try:
        done = generate(sounds_dir, [15, 5])
    finally:
        os.umask(umask)
    assert {oct(p.stat().st_mode & 0o777) for p in done.written} == {"0o644"}
    assert oct((sounds_dir / "en").stat().st_mode & 0o777) == "0o755"
    expected = {f"{lang}/{name}.wav" for name in spoken_messages([15, 5]) for lang in ("nl", "en")}
    assert {"closing_15", "closing_5", "openplus_start", "wrong_pin"} <= set(spoken_messages([15, 5]))
    assert {p.relative_to(sounds_dir).as_posix() for p in done.written} == expected - {"nl/granted.wav"}
    assert [p.relative_to(sounds_dir).as_posix() for p in done.kept] == ["nl/granted.wav"]
    for path in done.written:
        data, seconds = scaled_wav(path, 100)  # a readable WAV with sound in it
        assert seconds > 0.3, path
    assert scaled_wav(sounds_dir / "nl" / "granted.wav", 100)[1] == pytest.approx(2 / 8000)
    forced = generate(sounds_dir, [15, 5], force=True)
    assert len(forced.written) == len(expected) and forced.kept == []
    assert not list(sounds_dir.rglob(".*.partial"))


def test_without_espeak_ng_generation_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(sounds.SoundsUnavailable, match="apt-get install espeak-ng"):
        generate(tmp_path, [15], espeak="no-such-espeak-here")


def test_the_sounds_command_says_what_to_install_without_espeak_ng(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli.main import main

    config = tmp_path / "door.toml"
    config.write_text(f"[voice]\nsounds_dir = '{tmp_path / 'sounds'}'\n", encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    assert main(["--config", str(config), "sounds", "generate"]) == 2
    assert "espeak-ng is not installed (Debian: sudo apt-get install espeak-ng)" in capsys.readouterr().err
    assert not (tmp_path / "sounds").exists()


@pytest.mark.slow  # espeak-ng speaks some 50 files: 1-2 s, more under load
def test_the_sounds_command_fills_the_configured_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (./dev test installs Debian's espeak-ng as root)")
    from controller.cli.main import main

    config = tmp_path / "door.toml"
    config.write_text(
        f"[voice]\nsounds_dir = '{tmp_path / 'sounds'}'\n[door]\nclosing_warning_minutes = [10]\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "sounds", "generate"]) == 0
    assert "written, 0 already there" in capsys.readouterr().out
    assert (tmp_path / "sounds" / "en" / "closing_10.wav").is_file()
    assert main(["--config", str(config), "sounds", "generate"]) == 0
    assert "0 sound file(s) written" in capsys.readouterr().out
