"""The reader protocols name what the door service may call (layout-review S13): a reader that
opens its device after start() says so by being a ConnectingReader, not by having a method the
service probes for with hasattr."""

from __future__ import annotations

from drivers.base import ConnectingReader, EventSink, ReaderStats
from drivers.readers.barcode import SerialBarcodeReader
from drivers.readers.rdm6300 import Rdm6300Reader


class GpioLikeReader:
    """A reader whose pins are there from the start: nothing to wait for."""

    def __init__(self) -> None:
        self.name = "keypad"
        self.stats = ReaderStats()

    def start(self, sink: EventSink) -> None: ...

    def close(self) -> None: ...


def test_serial_readers_are_connecting_readers() -> None:
    # Built, not started: no port is opened.
    assert isinstance(SerialBarcodeReader("scanner", "/dev/ttyUSB-not-opened"), ConnectingReader)
    assert isinstance(Rdm6300Reader("rfid", "/dev/ttyAMA-not-opened"), ConnectingReader)


def test_a_reader_without_wait_connected_is_not_one() -> None:
    assert not isinstance(GpioLikeReader(), ConnectingReader)
