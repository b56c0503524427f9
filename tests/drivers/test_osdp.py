"""OSDP: the driver's libosdp control panel against a real libosdp peripheral device.

Both ends run in this process, joined by an in-memory loopback (or a pty with the real
pyserial on the driver's side), with the AES secure channel on. Waits are on queues and
events with timeouts; the only fixed waits are the short windows that prove a negative.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest
from osdp import CardFormat, Channel, Command, CommandLEDColor, Event
from osdp_peer import LoopbackLine, PluggablePty, PtyPdChannel, ReaderPeer

from drivers.base import CardRead, KeyPress, ReaderFault
from drivers.readers.osdp import (
    CardDataError,
    OSDPReader,
    decode_card_read,
    key_from_byte,
)
from drivers.readers.wiegand import WiegandFrameError

NAME = "front-door"
ADDRESS = 5
SCBK = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90")
WRONG_SCBK = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
WAIT = 3.0  # upper bound; a secure session takes ~0.25 s, an event ~0.1-0.3 s
QUIET = 0.8  # window to show something does NOT happen (CP polls every 50 ms)

# Worked by hand (same frames as the Wiegand tests): facility 123, card 45678 ->
# bits 1-12 have nine 1s (even parity 1), bits 13-24 six 1s (odd parity 1).
H10301_123_45678 = "1" + "01111011" + "1011001001101110" + "1"
# Facility 1234 (five 1s -> even parity 1), card 56789 (eleven 1s -> odd parity 0).
H10306_1234_56789 = "1" + "0000010011010010" + "1101110111010101" + "0"
CARD_26 = CardRead(card="12345678", reader=NAME)
CARD_34 = CardRead(card="0123456789", reader=NAME)


@pytest.fixture
def line() -> LoopbackLine:
    return LoopbackLine()


@pytest.fixture
def peer_on() -> Iterator[Callable[..., ReaderPeer]]:
    """Start a libosdp PD on a channel; stopped at teardown."""
    peers: list[ReaderPeer] = []

    def start(channel: Channel, scbk: bytes = SCBK, **capabilities: bool) -> ReaderPeer:
        peer = ReaderPeer(channel, scbk, ADDRESS, **capabilities)
        peer.start()
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.stop()


@pytest.fixture
def pty(tmp_path) -> Iterator[PluggablePty]:
    """Requested before peer_on/start_reader, so it closes after the PD and reader stop."""
    port = PluggablePty(str(tmp_path / "ttyUSB-osdp"))
    yield port
    port.close()


def secure_reader(start_reader, events, channel: Channel, **options) -> OSDPReader:
    reader = start_reader(OSDPReader(NAME, SCBK, channel=channel, address=ADDRESS, **options), events)
    assert reader.wait_until_secure(WAIT), "no secure session with the PD"
    assert reader.is_secure()
    return reader


def osdp_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in (f"osdp-{NAME}", "cp")]


# --- over the loopback, secure channel on ------------------------------------------------


def test_card_and_keys_arrive_over_the_secure_channel(line, peer_on, start_reader, events, caplog):
    caplog.set_level(logging.DEBUG)
    peer = peer_on(line.pd_end)
    reader = secure_reader(start_reader, events, line.cp_end)

    peer.card(H10301_123_45678)
    assert events.next(WAIT) == CARD_26
    peer.keys(b"12\x7f\x0d")  # osdp_KEYPAD: '*' travels as DEL, '#' as CR
    assert [events.next(WAIT) for _ in range(4)] == [
        KeyPress("1", NAME),
        KeyPress("2", NAME),
        KeyPress("*", NAME),
        KeyPress("#", NAME),
    ]
    peer.card(H10306_1234_56789)
    assert events.next(WAIT) == CARD_34

    assert (reader.stats.frames_ok, reader.stats.frames_dropped) == (6, 0)
    events.assert_empty()
    assert "5678" in caplog.text  # last four digits only
    assert "12345678" not in caplog.text and "0123456789" not in caplog.text
    assert SCBK.hex() not in caplog.text.lower()


def test_garbage_card_data_is_dropped_and_counted(line, peer_on, start_reader, events):
    peer = peer_on(line.pd_end)
    reader = secure_reader(start_reader, events, line.cp_end)

    peer.card(H10301_123_45678[:-1] + "0")  # odd parity broken
    peer.card("1" * 30)  # no such Wiegand format
    peer.keys(b"A")  # not a keypad key
    peer.card(H10306_1234_56789, CardFormat.Unspecified)  # raw bits, same rule
    # Events arrive in order, so once the good card is here the garbage has been handled.
    assert events.until(CARD_34, timeout=WAIT) == []
    assert reader.stats.drop_reasons == {"bad_odd_parity": 1, "bad_bit_count": 1, "unknown_key": 1}
    assert reader.stats.frames_ok == 1


def test_libosdp_pd_itself_refuses_ascii_and_unknown_card_formats(line, peer_on, start_reader, events):
    """Pins libosdp 3.2.9: its PD drops these before the wire, so decode_card_read's ASCII
    branch is covered by the pure tests below, not over the loopback."""
    peer = peer_on(line.pd_end)
    reader = secure_reader(start_reader, events, line.cp_end)

    peer._submit(
        {
            "event": Event.CardRead,
            "reader_no": 0,
            "format": CardFormat.ASCII,
            "direction": 0,
            "data": b"12345678",
        }
    )
    peer._submit(
        {"event": Event.CardRead, "reader_no": 0, "format": 7, "direction": 0, "length": 8, "data": b"\x01"}
    )
    peer.card(H10301_123_45678)
    assert events.until(CARD_26, timeout=WAIT) == []
    assert reader.stats.frames_dropped == 0


def test_wrong_scbk_means_no_session_and_no_card_reads(line, peer_on, start_reader, events):
    peer = peer_on(line.pd_end, scbk=WRONG_SCBK)
    peer.card(H10301_123_45678)  # waits in the PD for the first poll
    reader = start_reader(OSDPReader(NAME, SCBK, channel=line.cp_end, address=ADDRESS), events)

    # Without ENFORCE_SECURE libosdp falls back to plaintext and this would be the card.
    first = events.next(WAIT)
    assert isinstance(first, ReaderFault) and first.kind == "disconnected", first
    with pytest.raises(AssertionError, match="no reader event"):
        events.next(QUIET)
    assert not reader.is_secure()
    assert not reader.wait_until_secure(0)


def test_line_failure_reports_disconnect_and_the_driver_retries_before_libosdp_would(
    line, peer_on, start_reader, events, fake_monotonic
):
    peer = peer_on(line.pd_end)
    reader = secure_reader(start_reader, events, line.cp_end, retry_after_s=10.0, monotonic=fake_monotonic)

    line.cut()
    fault = events.next(WAIT)
    assert isinstance(fault, ReaderFault) and fault.kind == "disconnected"
    assert not reader.wait_until_secure(0)

    line.restore()
    fake_monotonic.advance(10.0)  # libosdp alone would stay offline for 300 s
    assert events.next(WAIT) == ReaderFault(NAME, "reconnected")
    assert reader.is_secure()
    peer.card(H10301_123_45678)
    assert events.next(WAIT) == CARD_26


def test_indicate_drives_the_led_and_buzzer(line, peer_on, start_reader, events):
    peer = peer_on(line.pd_end)
    reader = secure_reader(start_reader, events, line.cp_end)

    assert reader.indicate(granted=True)
    led, buzzer = peer.next_command(WAIT), peer.next_command(WAIT)
    assert (led["command"], led["on_color"], led["temporary"]) == (Command.LED, CommandLEDColor.Green, True)
    assert (buzzer["command"], buzzer["rep_count"]) == (Command.Buzzer, 1)

    assert reader.indicate(granted=False)
    led, buzzer = peer.next_command(WAIT), peer.next_command(WAIT)
    assert led["on_color"] == CommandLEDColor.Red
    assert buzzer["rep_count"] == 3


def test_indicate_skips_what_the_reader_lacks_so_it_stays_online(line, peer_on, start_reader, events):
    peer = peer_on(line.pd_end, buzzer=False)  # a NAK'd buzzer command costs 300 s offline
    reader = secure_reader(start_reader, events, line.cp_end)

    assert reader.indicate(granted=False)
    assert peer.next_command(WAIT)["command"] == Command.LED
    peer.card(H10301_123_45678)
    assert events.until(CARD_26, timeout=WAIT) == []  # no 'disconnected' on the way
    assert peer.has_no_command()


def test_indicate_returns_false_when_no_session(line, start_reader, events):
    reader = start_reader(OSDPReader(NAME, SCBK, channel=line.cp_end, address=ADDRESS), events)
    assert reader.indicate(granted=True) is False


def test_close_stops_both_threads_promptly(line, peer_on, events):
    peer_on(line.pd_end)
    reader = OSDPReader(NAME, SCBK, channel=line.cp_end, address=ADDRESS)
    reader.start(events)
    assert reader.wait_until_secure(WAIT)
    assert len(osdp_threads()) == 2

    reader.close()
    assert osdp_threads() == []  # close() joins them (giving up after 2 s): none may be left


class _ExplodingChannel(Channel):
    def read(self, max_bytes: int) -> bytes:
        raise OSError("line noise")

    def write(self, buf: bytes) -> int:
        return len(buf)

    def flush(self) -> None:
        pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_refresh_thread_is_reported_not_silent(start_reader, events):
    """Pins libosdp 3.2.9: a channel that raises kills its refresh thread (SerialChannel never raises)."""
    start_reader(OSDPReader(NAME, SCBK, channel=_ExplodingChannel(), address=ADDRESS), events)
    assert events.next(WAIT) == ReaderFault(NAME, "error", "OSDP refresh loop stopped")


# --- over a pty with the real pyserial port ----------------------------------------------


def test_serial_port_end_to_end_unplug_and_replug(pty, peer_on, start_reader, events, fake_monotonic):
    peer = peer_on(PtyPdChannel(pty.master))
    reader = start_reader(
        OSDPReader(
            NAME, SCBK, device=pty.path, address=ADDRESS, retry_after_s=10.0, monotonic=fake_monotonic
        ),
        events,
    )
    assert reader.wait_until_secure(WAIT)
    peer.card(H10306_1234_56789)
    assert events.next(WAIT) == CARD_34
    peer.keys(b"9")
    assert events.next(WAIT) == KeyPress("9", NAME)

    peer.stop()
    pty.unplug()  # pyserial raises (EIO, termios.error); the channel must only report it
    fault = events.next(WAIT)
    assert isinstance(fault, ReaderFault) and fault.kind == "disconnected"

    pty.plug()
    peer = peer_on(PtyPdChannel(pty.master))
    fake_monotonic.advance(10.0)  # the link restart reopens the port
    assert events.next(WAIT) == ReaderFault(NAME, "reconnected")
    peer.card(H10301_123_45678)
    assert events.next(WAIT) == CARD_26


# --- pure decoding -------------------------------------------------------------------------


def raw(bits: str, card_format: int = CardFormat.Wiegand, direction: int = 0) -> dict:
    padding = -len(bits) % 8
    data = (int(bits, 2) << padding).to_bytes((len(bits) + padding) // 8, "big")
    return {
        "event": Event.CardRead,
        "format": card_format,
        "direction": direction,
        "length": len(bits),
        "data": data,
    }


def ascii_card(data: bytes) -> dict:
    return {"event": Event.CardRead, "format": CardFormat.ASCII, "direction": 0, "data": data}


@pytest.mark.parametrize(
    "event, expected",
    [
        (raw(H10301_123_45678), CARD_26),
        (raw(H10306_1234_56789), CARD_34),
        (raw(H10301_123_45678, CardFormat.Unspecified), CARD_26),
        (raw("1011"), KeyPress("#", NAME)),  # 4-bit Wiegand key, as the Wiegand driver reads it
        (ascii_card(b"0012345678\r\n"), CardRead("0012345678", NAME)),
    ],
)
def test_decode_card_read(event, expected):
    assert decode_card_read(event, NAME) == expected


@pytest.mark.parametrize(
    "event, reason",
    [
        (raw("0" + H10301_123_45678[1:]), "bad_even_parity"),
        (raw(H10301_123_45678[:-1] + "0"), "bad_odd_parity"),
        (raw("1" * 30), "bad_bit_count"),
        (raw(H10301_123_45678, direction=1), "reverse_read"),
        ({**raw(H10301_123_45678), "data": b"\xff\xff"}, "short_data"),
        (ascii_card(b"12A45678"), "ascii_not_digits"),
        (ascii_card(b""), "ascii_not_digits"),
        ({**ascii_card(b"12345678"), "format": 9}, "unknown_card_format"),
    ],
)
def test_decode_card_read_drops_garbage_with_a_reason(event, reason):
    with pytest.raises((CardDataError, WiegandFrameError)) as raised:
        decode_card_read(event, NAME)
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "value, key",
    [
        (ord("0"), "0"),
        (ord("9"), "9"),
        (0x7F, "*"),
        (0x0D, "#"),
        (ord("*"), "*"),
        (ord("#"), "#"),
        (ord("A"), None),
        (0x00, None),
        (0xFF, None),
    ],
)
def test_key_from_byte(value, key):
    assert key_from_byte(value) == key


def test_scbk_is_checked_and_never_shown():
    with pytest.raises(ValueError) as raised:
        OSDPReader(NAME, SCBK[:15], channel=LoopbackLine().cp_end)
    assert SCBK[:15].hex() not in str(raised.value)
    reader = OSDPReader(NAME, SCBK, channel=LoopbackLine().cp_end)
    assert SCBK.hex() not in repr(reader) and str(SCBK) not in repr(reader)
    with pytest.raises(ValueError):
        OSDPReader(NAME, SCBK)  # neither a device nor a channel
