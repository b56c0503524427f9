"""Reading an IP camera's compressed video for stream copy: RTSP over TCP with timeouts, packets
handed to the recorder loop, a file replayed at its own pace (the simulator's and tests' camera).

The loop (drivers/camera_loop.py) watches this thread as it watches OpenCV's capture: a
failure ends it with (kind, detail), the loop logs it, reports a CameraFault and opens a new
one after a growing wait, so a camera that drops off never becomes a loop that spins.
Only the recorder process imports this module (it loads av).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.error
from av.container import InputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from drivers.camera_messages import RecorderConfig, is_file_source, to_ms

OPEN_TIMEOUT_SECONDS = 5.0  # as the OpenCV path's; the loop's stall watchdog fires at stall_seconds
READ_TIMEOUT_SECONDS = 5.0


def redacted(source: int | str) -> str:
    """The source for a log line or event: an rtsp://user:password@host URL loses its password."""
    text = str(source)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def reason(exc: BaseException, source: int | str) -> str:
    """What went wrong, without the URL PyAV puts into its messages (it holds the password)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).replace(str(source), redacted(source))


def open_stream(source: int | str) -> InputContainer:
    """The camera's stream: RTSP over TCP (no lost UDP packets smearing the picture), with open
    and read timeouts so a dead camera raises instead of blocking the thread forever."""
    text = str(source)
    options = {"rtsp_transport": "tcp"} if text.startswith(("rtsp://", "rtsps://")) else {}
    return av.open(text, options=options, timeout=(OPEN_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS))


class PacketCapture(threading.Thread):
    """Reads one connection's video packets until it fails or is stopped.

    Packets are never dropped one by one (the pictures after a lost one would be smeared until
    the next keyframe): when the queue is full, everything up to the next keyframe is dropped.
    """

    def __init__(self, config: RecorderConfig, packets: queue.Queue[tuple[int, Any]]) -> None:
        super().__init__(name="camera-stream", daemon=True)
        self._cfg = config
        self._packets = packets
        self._stopping = threading.Event()
        self.failure: tuple[str, str] | None = None  # (kind, detail) once the source gave up
        self.dropped = 0
        self._skipping = False  # dropping until the next keyframe

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        name = redacted(self._cfg.source)
        try:
            container = open_stream(self._cfg.source)
        except (OSError, av.error.FFmpegError) as exc:
            self.failure = ("open_failed", f"{name}: {reason(exc, self._cfg.source)}")
            return
        try:
            if not container.streams.video:
                self.failure = ("open_failed", f"{name} has no video stream")
                return
            self._read_all(container, container.streams.video[0])
            if not self._stopping.is_set():
                self.failure = ("no_frames", f"{name}: the stream ended")
        except (OSError, av.error.FFmpegError) as exc:
            self.failure = ("no_frames", f"{name}: the stream dropped ({reason(exc, self._cfg.source)})")
        finally:
            container.close()

    def _read_all(self, container: InputContainer, stream: VideoStream) -> None:
        pace = is_file_source(self._cfg.source)
        started: float | None = None  # monotonic time of the first packet's media time
        for packet in self._packets_of(container, stream):
            if self._stopping.is_set():
                return
            if pace and packet.dts is not None and packet.time_base:
                # A file plays at its own speed from its first packet on, like a live camera.
                media = float(packet.dts * packet.time_base)
                started = time.monotonic() - media if started is None else started
                self._stopping.wait(max(0.0, started + media - time.monotonic()))
            self._hand_over((to_ms(self._cfg.clock()), packet))

    def _packets_of(self, container: InputContainer, stream: VideoStream) -> Iterator[Packet]:
        """The stream's packets; a looping file starts again, its times carrying on from the end."""
        shift, first = 0, None  # first: the file's first dts (below 0 with B-frames)
        while True:
            end = shift
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                first = packet.dts if first is None else first
                if shift:
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts = None if packet.dts is None else packet.dts + shift
                end = max(end, (packet.dts or 0) + (packet.duration or 0))
                yield packet
            if not (self._cfg.loop_video_file and is_file_source(self._cfg.source)) or end == shift:
                return
            container.seek(0, stream=stream)
            shift = end - (first or 0)

    def _hand_over(self, item: tuple[int, Packet]) -> None:
        if self._skipping and not item[1].is_keyframe:
            self.dropped += 1
            return
        try:
            self._packets.put_nowait(item)
            self._skipping = False
        except queue.Full:
            self.dropped += 1
            self._skipping = True
