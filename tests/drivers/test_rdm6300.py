"""RDM6300 / EM4100: the pure frame decoder, then the real reader over a pty speaking the protocol."""

from __future__ import annotations

import threading
import time

import pytest

from drivers.base import CardRead, ReaderFault
from drivers.readers.rdm6300 import Em4100FrameDecoder, Rdm6300Reader, parse_em4100_payload
from drivers.readers.serial_port import Dropped, GapResync
from tests.drivers.conftest import FakeMonotonic

# Frames with checksums worked out by hand (XOR of the five data bytes), not by the code under test.
CARD_A_FRAME = b"\x0267003B51C6CB\x03"  # 0x003B51C6 = 3887558, the documented example
CARD_A = "0003887558"
CARD_B_FRAME = b"\x020A00ABCDEF83\x03"  # 0x00ABCDEF = 11259375
CARD_B = "0011259375"
MAX_TAG_FRAME = b"\x0201FFFFFFFF01\x03"  # largest 32-bit tag id still fits 10 digits
SMALL_TAG_FRAME = b"\x02120000000113\x03"  # tag id 1 must come out zero padded

READER = "front"


# --- pure decoder -------------------------------------------------------------------------


def test_documented_example_decodes_to_ten_digit_decimal_tag_id() -> None:
    assert Em4100FrameDecoder().feed(CARD_A_FRAME) == [CARD_A]


@pytest.mark.parametrize(
    ("frame", "card"),
    [(CARD_B_FRAME, CARD_B), (MAX_TAG_FRAME, "4294967295"), (SMALL_TAG_FRAME, "0000000001")],
)
def test_tag_id_ignores_version_byte_and_is_zero_padded(frame: bytes, card: str) -> None:
    assert Em4100FrameDecoder().feed(frame) == [card]


def test_frame_split_into_single_bytes_decodes_once_complete() -> None:
    decoder = Em4100FrameDecoder()
    results = [decoder.feed(bytes([byte])) for byte in CARD_A_FRAME]
    assert results[:-1] == [[]] * (len(CARD_A_FRAME) - 1)
    assert results[-1] == [CARD_A]


def test_lowercase_hex_is_accepted() -> None:
    assert parse_em4100_payload(b"67003b51c6cb") == CARD_A


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (b"\x0267003B51C6CC\x03", "bad_checksum"),
        (b"\x0267003B51C6CA\x03", "bad_checksum"),
        (b"\x0267003G51C6CB\x03", "non_hex"),
        (b"\x0267003B51C6C\x00B\x03", "non_hex"),
        (b"\x0267003B51C6CB", "missing_etx"),  # the next frame's STX arrives instead
        (b"\x0267003B51", "stx_restart"),
        (b"\x0267003B51C6CB0\x03", "too_long"),
        (b"\x0267003B51C6CB\x0d\x0a", "too_long"),
        (b"\x0267003B51C6\x03", "too_short"),
        (b"\x02\x03", "too_short"),
        (b"\xff\x00\x13 noise \x03\x03", "noise"),
    ],
)
def test_broken_input_is_dropped_with_reason_and_next_frame_still_reads(garbage: bytes, reason: str) -> None:
    decoder = Em4100FrameDecoder()
    assert decoder.feed(garbage + CARD_B_FRAME) == [Dropped(reason), CARD_B]


def test_noise_run_split_over_chunks_counts_once_and_each_gap_counts() -> None:
    decoder = Em4100FrameDecoder()
    results = decoder.feed(b"\x00\xff") + decoder.feed(b"\x7f") + decoder.feed(CARD_A_FRAME)
    results += decoder.feed(b"zz" + CARD_B_FRAME)
    assert results == [Dropped("noise"), CARD_A, Dropped("noise"), CARD_B]


def test_bytes_after_a_broken_frame_are_not_counted_twice() -> None:
    decoder = Em4100FrameDecoder()
    results = decoder.feed(b"\x0267003X51C6CB\x03\x03junk" + CARD_A_FRAME)
    assert results == [Dropped("non_hex"), CARD_A]


def test_a_pause_ends_an_unfinished_frame() -> None:
    clock = FakeMonotonic()
    decoder = GapResync(Em4100FrameDecoder(), 0.5, clock)
    assert decoder.feed(CARD_A_FRAME[:6]) == []
    clock.advance(0.6)
    assert decoder.feed(CARD_B_FRAME) == [Dropped("stale_partial"), CARD_B]
    clock.advance(0.6)
    assert decoder.feed(CARD_A_FRAME) == [CARD_A]  # nothing unfinished: nothing dropped


def test_frame_cut_short_is_not_completed_by_later_bytes() -> None:
    """A frame cut short must not be completed by the next frame's digits."""
    decoder = Em4100FrameDecoder()
    results = decoder.feed(b"\x0267003B\x02" + b"51C6CB\x03")
    assert results == [Dropped("stx_restart"), Dropped("too_short")]


# --- the reader on a real pseudo-terminal --------------------------------------------------


@pytest.fixture
def held_card_clock(fake_monotonic):
    """The RDM6300 repeats a held card's frame ~10 times a second: each frame is 0.1 s later."""
    fake_monotonic.step = 0.1
    return fake_monotonic


def start_rdm6300(start_reader, events, path: str, clock, gap_clock=None) -> Rdm6300Reader:
    reader = Rdm6300Reader(
        READER,
        path,
        holdoff_seconds=1.0,
        monotonic=clock,
        retry_seconds=0.02,
        gap_monotonic=gap_clock or FakeMonotonic(),
    )
    start_reader(reader, events)
    return reader


def test_a_frame_cut_off_by_a_pause_is_dropped_and_noise_after_it_counts_anew(
    start_reader, events, pty_port, fake_monotonic, gap_clock
) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, fake_monotonic, gap_clock)
    assert reader.wait_connected(2.0)
    pty_port.write(b"\x02")  # one byte a read: the clock tells when it was read
    gap_clock.wait_for_calls(1)
    gap_clock.advance(1.0)
    pty_port.write(b"\xff")
    gap_clock.wait_for_calls(2)
    pty_port.write(CARD_A_FRAME)
    assert events.next() == CardRead(card=CARD_A, reader=READER)
    assert reader.stats.drop_reasons == {"stale_partial": 1, "noise": 1}


def test_valid_frame_over_serial_emits_card_read(start_reader, events, pty_port, fake_monotonic) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, fake_monotonic)
    assert reader.wait_connected(2.0)
    pty_port.write(CARD_A_FRAME)
    assert events.next() == CardRead(card=CARD_A, reader=READER)
    assert reader.stats.frames_ok == 1
    assert reader.stats.frames_dropped == 0


def test_frame_split_across_writes(start_reader, events, pty_port, fake_monotonic) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, fake_monotonic)
    assert reader.wait_connected(2.0)
    for piece in (CARD_A_FRAME[:1], CARD_A_FRAME[1:5], CARD_A_FRAME[5:13], CARD_A_FRAME[13:]):
        pty_port.write(piece)
    assert events.next() == CardRead(card=CARD_A, reader=READER)


def test_garbage_over_serial_is_counted_never_read(start_reader, events, pty_port, fake_monotonic) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, fake_monotonic)
    assert reader.wait_connected(2.0)
    pty_port.write(b"\x0267003B51C6CC\x03")  # bad checksum
    pty_port.write(b"\x0267003G51C6CB\x03")  # non-hex
    pty_port.write(b"\x0267003B51C6CB")  # missing ETX ...
    pty_port.write(b"\x0267003B")  # ... and this one is cut off by the next STX
    pty_port.write(CARD_B_FRAME)
    assert events.until(CardRead(card=CARD_B, reader=READER)) == []
    assert reader.stats.drop_reasons == {
        "bad_checksum": 1,
        "non_hex": 1,
        "missing_etx": 1,
        "stx_restart": 1,
    }
    assert reader.stats.frames_dropped == 4
    assert reader.stats.frames_ok == 1


def test_noise_between_frames(start_reader, events, pty_port, fake_monotonic) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, fake_monotonic)
    assert reader.wait_connected(2.0)
    pty_port.write(b"\x00\xfe" + CARD_A_FRAME + b"\r\n\x80" + CARD_B_FRAME)
    assert events.until(CardRead(card=CARD_B, reader=READER)) == [CardRead(card=CARD_A, reader=READER)]
    assert reader.stats.drop_reasons == {"noise": 2}


def test_held_card_emits_once_and_a_different_card_at_once(
    start_reader, events, pty_port, held_card_clock
) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, held_card_clock)
    assert reader.wait_connected(2.0)
    pty_port.write(CARD_A_FRAME * 20)  # two seconds of a held card, frames 0.1 s apart
    pty_port.write(CARD_B_FRAME)  # swapped for another card 0.1 s later
    assert events.until(CardRead(card=CARD_B, reader=READER)) == [CardRead(card=CARD_A, reader=READER)]
    assert reader.stats.frames_ok == 21


def test_card_presented_again_after_holdoff_reads_again(
    start_reader, events, pty_port, held_card_clock
) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, held_card_clock)
    assert reader.wait_connected(2.0)
    pty_port.write(CARD_A_FRAME * 20)
    held_card_clock.wait_for_calls(20)
    held_card_clock.advance(0.85)  # card away: next frame 0.95 s after the last, within hold-off
    pty_port.write(CARD_A_FRAME)
    held_card_clock.wait_for_calls(21)
    held_card_clock.advance(1.5)  # card away long enough
    pty_port.write(CARD_A_FRAME)
    pty_port.write(CARD_B_FRAME)
    assert events.until(CardRead(card=CARD_B, reader=READER)) == [
        CardRead(card=CARD_A, reader=READER),
        CardRead(card=CARD_A, reader=READER),
    ]


def test_unplug_and_replug(start_reader, events, pty_port, fake_monotonic) -> None:
    reader = start_rdm6300(start_reader, events, pty_port.path, fake_monotonic)
    assert reader.wait_connected(2.0)
    pty_port.write(CARD_A_FRAME)
    assert events.next() == CardRead(card=CARD_A, reader=READER)

    pty_port.unplug()
    fault = events.next()
    assert isinstance(fault, ReaderFault)
    assert (fault.reader, fault.kind) == (READER, "disconnected")

    pty_port.plug()
    fault = events.next()
    assert isinstance(fault, ReaderFault)
    assert (fault.reader, fault.kind) == (READER, "reconnected")
    assert reader.wait_connected(0)
    pty_port.write(CARD_B_FRAME)
    assert events.next() == CardRead(card=CARD_B, reader=READER)
    events.assert_empty()


def test_port_missing_at_start_reports_once_then_reconnects(
    start_reader, events, unplugged_pty_port, fake_monotonic
) -> None:
    reader = start_rdm6300(start_reader, events, unplugged_pty_port.path, fake_monotonic)
    fault = events.next()
    assert isinstance(fault, ReaderFault) and fault.kind == "disconnected"
    assert not reader.wait_connected(0.1)  # several retries fail meanwhile, reported only once
    unplugged_pty_port.plug()
    fault = events.next()
    assert isinstance(fault, ReaderFault) and fault.kind == "reconnected"
    unplugged_pty_port.write(CARD_A_FRAME)
    assert events.next() == CardRead(card=CARD_A, reader=READER)


def _reader_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"reader-{name}"]


@pytest.mark.parametrize("plugged", [True, False], ids=["reading", "waiting-to-retry"])
def test_close_stops_the_thread_promptly(events, tmp_path, pty_port, plugged: bool) -> None:
    path = pty_port.path if plugged else str(tmp_path / "absent")
    reader = Rdm6300Reader("closing", path, retry_seconds=30.0)
    reader.start(events)
    if plugged:
        assert reader.wait_connected(2.0)
    else:
        assert isinstance(events.next(), ReaderFault)
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < 10  # a hang guard: far below the 30 s retry
    assert _reader_threads("closing") == []
