"""Serial barcode scanner: line validation, the CR/LF line decoder, and the reader over a pty."""

from __future__ import annotations

import pytest

from drivers.base import CardRead, ReaderFault
from drivers.readers.barcode import BarcodeLineDecoder, SerialBarcodeReader, check_card_line
from drivers.readers.serial_port import Dropped, GapResync
from tests.drivers.conftest import FakeMonotonic

LIBRARY_CARD = "20123456789012"  # NL library cards carry 14-digit barcodes
OTHER_CARD = "20999999999999"
READER = "scanner"


# --- check_card_line (shared with the keyboard wedge) -------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (LIBRARY_CARD, LIBRARY_CARD),
        (" 2012 3456 7890 12 ", LIBRARY_CARD),
        ("\t2012345678901 2\x0b", LIBRARY_CARD),
        ("0001", "0001"),  # leading zeros are kept: the controller normalises, not the reader
        ("", Dropped("empty")),
        ("   ", Dropped("empty")),
        ("2012345678901A", Dropped("non_digit")),
        ("-2012345678901", Dropped("non_digit")),
        ("20123²", Dropped("non_digit")),  # str.isdigit() says True for '²'
        ("٢٠١٢٣٤٥", Dropped("non_digit")),  # Arabic-Indic digits
        ("123", Dropped("too_short")),
        ("1" * 33, Dropped("too_long")),
    ],
)
def test_check_card_line(line: str, expected: object) -> None:
    assert check_card_line(line) == expected


def test_check_card_line_limits_are_configurable() -> None:
    assert check_card_line("12345678", min_digits=8, max_digits=8) == "12345678"
    assert check_card_line("1234567", min_digits=8, max_digits=8) == Dropped("too_short")
    assert check_card_line("123456789", min_digits=8, max_digits=8) == Dropped("too_long")


# --- BarcodeLineDecoder -------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_each_line_ending_gives_exactly_one_card(ending: bytes) -> None:
    decoder = BarcodeLineDecoder()
    data = LIBRARY_CARD.encode() + ending + OTHER_CARD.encode() + ending
    assert decoder.feed(data) == [LIBRARY_CARD, OTHER_CARD]


def test_line_split_across_chunks_and_unterminated_tail_waits() -> None:
    decoder = BarcodeLineDecoder()
    assert decoder.feed(b"2012345") == []
    assert decoder.feed(b"6789012\r") == [LIBRARY_CARD]
    assert decoder.feed(b"\n2099") == []  # the LF of CRLF is no empty line; "2099" has no end yet


def test_non_ascii_bytes_are_rejected_not_stripped() -> None:
    assert BarcodeLineDecoder().feed(b"2012\xff3456789012\r\n") == [Dropped("non_digit")]


def test_endless_line_is_dropped_once_and_memory_stays_bounded() -> None:
    decoder = BarcodeLineDecoder(max_digits=32)
    results = decoder.feed(b"1" * 64)
    results += decoder.feed(b"1" * 1000)
    results += decoder.feed(b"\r\n" + LIBRARY_CARD.encode() + b"\r\n")
    assert results == [Dropped("too_long"), LIBRARY_CARD]


def test_memory_stays_bounded_however_long_the_line_runs() -> None:
    decoder = BarcodeLineDecoder()
    results = []
    for _ in range(1000):
        results += decoder.feed(b"\xa5noise" * 100)
        assert decoder.pending_bytes <= decoder.max_line_bytes == 64
    assert results == [Dropped("too_long")]


def test_a_pause_ends_a_partial_line_so_the_next_scan_starts_clean() -> None:
    clock = FakeMonotonic()
    decoder = GapResync(BarcodeLineDecoder(), 0.5, clock)
    assert decoder.feed(b"\xfe\x00") == []
    clock.advance(0.4)
    assert decoder.feed(b"A7") == []  # no pause yet: the same line
    clock.advance(0.6)
    assert decoder.feed(LIBRARY_CARD.encode() + b"\r\n") == [Dropped("stale_partial"), LIBRARY_CARD]
    clock.advance(5)
    assert decoder.feed(OTHER_CARD.encode() + b"\r") == [OTHER_CARD]  # nothing left to drop


def test_a_pause_after_an_overlong_run_does_not_count_it_twice() -> None:
    clock = FakeMonotonic()
    decoder = GapResync(BarcodeLineDecoder(), 0.5, clock)
    assert decoder.feed(b"9" * 500) == [Dropped("too_long")]
    clock.advance(1)
    assert decoder.feed(LIBRARY_CARD.encode() + b"\r") == [LIBRARY_CARD]


# --- the reader on a real pseudo-terminal --------------------------------------------------


def start_scanner(start_reader, events, path: str, clock, gap_clock=None) -> SerialBarcodeReader:
    reader = SerialBarcodeReader(
        READER,
        path,
        repeat_seconds=1.0,
        monotonic=clock,
        retry_seconds=0.02,
        gap_monotonic=gap_clock or FakeMonotonic(),
    )
    start_reader(reader, events)
    assert reader.wait_connected(2.0)
    return reader


def test_noise_without_a_line_end_does_not_swallow_the_next_scan(
    start_reader, events, pty_port, fake_monotonic, gap_clock
) -> None:
    reader = start_scanner(start_reader, events, pty_port.path, fake_monotonic, gap_clock)
    for count, byte in enumerate(b"\xfe\x00A", start=1):  # one byte a read: the clock tells
        pty_port.write(bytes([byte]))
        gap_clock.wait_for_calls(count)
    gap_clock.advance(2.0)  # someone walks up with their card
    pty_port.write(LIBRARY_CARD.encode() + b"\r\n")
    assert events.next() == CardRead(card=LIBRARY_CARD, reader=READER)
    assert reader.stats.drop_reasons == {"stale_partial": 1}


def test_an_endless_line_keeps_memory_bounded_and_counts_one_frame_error(
    start_reader, events, pty_port, fake_monotonic, gap_clock
) -> None:
    reader = start_scanner(start_reader, events, pty_port.path, fake_monotonic, gap_clock)
    line = reader._decoder.decoder
    longest = []
    feed = line.feed

    def measured(chunk: bytes) -> list:
        results = feed(chunk)
        longest.append(line.pending_bytes)
        return results

    line.feed = measured
    for _ in range(64):
        pty_port.write(b"\x93 electrical noise, no line end " * 32)  # 64 x 1 KiB, no pause
    pty_port.write(b"\r\n" + LIBRARY_CARD.encode() + b"\r\n")
    assert events.until(CardRead(card=LIBRARY_CARD, reader=READER)) == []
    assert reader.stats.drop_reasons == {"too_long": 1}
    assert longest and max(longest) <= line.max_line_bytes


def test_scan_over_serial_emits_card_read(start_reader, events, pty_port, fake_monotonic) -> None:
    reader = start_scanner(start_reader, events, pty_port.path, fake_monotonic)
    pty_port.write(b"2012345")
    pty_port.write(b"6789012\r\n")
    assert events.next() == CardRead(card=LIBRARY_CARD, reader=READER)
    assert reader.stats.frames_ok == 1


def test_bad_lines_over_serial_are_counted_never_read(start_reader, events, pty_port, fake_monotonic) -> None:
    reader = start_scanner(start_reader, events, pty_port.path, fake_monotonic)
    pty_port.write(b"20123456789O12\r\n")  # letter O, not zero
    pty_port.write(b"12\r\n")
    pty_port.write(b"9" * 40 + b"\r\n")
    pty_port.write(OTHER_CARD.encode() + b"\r\n")
    assert events.until(CardRead(card=OTHER_CARD, reader=READER)) == []
    assert reader.stats.drop_reasons == {"non_digit": 1, "too_short": 1, "too_long": 1}


def test_identical_scan_within_a_second_is_ignored_then_reads_again(
    start_reader, events, pty_port, fake_monotonic
) -> None:
    start_scanner(start_reader, events, pty_port.path, fake_monotonic)
    pty_port.write(LIBRARY_CARD.encode() + b"\r\n")
    fake_monotonic.wait_for_calls(1)
    fake_monotonic.advance(0.5)
    pty_port.write(LIBRARY_CARD.encode() + b"\r\n")  # double scan: ignored
    fake_monotonic.wait_for_calls(2)
    fake_monotonic.advance(1.2)
    pty_port.write(LIBRARY_CARD.encode() + b"\r\n")  # scanned again later: a new attempt
    pty_port.write(OTHER_CARD.encode() + b"\r\n")  # a different card: at once
    assert events.until(CardRead(card=OTHER_CARD, reader=READER)) == [
        CardRead(card=LIBRARY_CARD, reader=READER),
        CardRead(card=LIBRARY_CARD, reader=READER),
    ]


def test_unplug_and_replug(start_reader, events, pty_port, fake_monotonic) -> None:
    start_scanner(start_reader, events, pty_port.path, fake_monotonic)
    pty_port.unplug()
    fault = events.next()
    assert isinstance(fault, ReaderFault) and (fault.reader, fault.kind) == (READER, "disconnected")
    pty_port.plug()
    fault = events.next()
    assert isinstance(fault, ReaderFault) and (fault.reader, fault.kind) == (READER, "reconnected")
    pty_port.write(LIBRARY_CARD.encode() + b"\r")
    assert events.next() == CardRead(card=LIBRARY_CARD, reader=READER)
