"""Recording by stream copy: an IP camera's own H.264 packets into segment files and event clips.

An RTSP camera already compresses its picture; decoding every frame and encoding it again
(the OpenCV path, drivers/camera.py) costs most of a small board's core at 1080p and loses
quality, and its mp4v files need a transcode before a browser plays them. Here the packets
are only re-wrapped (PyAV, FFmpeg's muxer) into fragmented MP4: no decoding, the same bytes
the camera sent, and H.264 in MP4 is what every browser's <video> plays as it is.

Files follow the OpenCV path's names and messages (`segments/<date>/<HHMMSS-mmm>.mp4`,
`clips/event-<id>.mp4`, SegmentStarted/SegmentFinished/ClipFinished), so footage books,
lookup, clips per entry and retention need not know which path wrote them. A file can only
start on a keyframe, so segments are cut at the first keyframe after their boundary and a
clip starts at the last keyframe before `pre_event_seconds` ahead of its event.

Fragmented MP4 (a fragment per keyframe, index up front) rather than `faststart`: a file
whose recorder died mid-segment is still playable up to its last fragment, and nothing is
rewritten at close.

Only the recorder process imports this module (it loads av, FFmpeg's ~30 MB).
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

import av
import av.error
from av.packet import Packet
from av.video.stream import VideoStream

from drivers.camera_messages import Emit, RecorderConfig
from drivers.camera_recording import BaseRecorder

log = logging.getLogger(__name__)

EXTENSION = "mp4"
# A fragment per keyframe and the (empty) index first: playable while written and after a crash.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
MAX_GOP_PACKETS = 3600  # a keyframe at least every 2 minutes at 30 fps, or the ring is emptied


def copy_of(packet: Packet) -> Packet:
    """The same bytes and timing in a packet of our own: muxing takes a packet's data over."""
    copy = Packet(bytes(packet))
    copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
    copy.time_base = packet.time_base
    copy.is_keyframe = packet.is_keyframe
    return copy


class PacketFile:
    """One MP4 file of copied packets, timed from its first packet (which must be a keyframe).

    `first_ms` is the wall clock when that packet arrived; `end_ms` adds the media time the
    file spans, so an event's offset into the file is its wall time minus `first_ms`.
    """

    def __init__(self, root: Path, relative: str, template: VideoStream) -> None:
        self.relative = relative
        self.path = root / relative
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = av.open(str(self.path), "w", format="mp4", options={"movflags": MOVFLAGS})
        try:
            self._stream = self._out.add_stream_from_template(template)
        except BaseException:
            self._out.close()
            raise
        self.frames = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self._offset: int | None = None  # the first packet's dts: the file starts at 0
        self._last_dts: int | None = None
        self._end_ticks = 0  # the media time covered, in the source's time base
        self._time_base = template.time_base

    def write(self, packet: Packet, at_ms: int) -> bool:
        """Add the packet; False (not written) when its time does not follow the last one's."""
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None or (self._last_dts is not None and dts <= self._last_dts):
            return False
        if self._offset is None:
            self._offset = dts
        copy = copy_of(packet)
        copy.dts = dts - self._offset
        copy.pts = (packet.pts if packet.pts is not None else dts) - self._offset
        copy.stream = self._stream
        self._out.mux(copy)
        self._last_dts = dts
        self._end_ticks = max(self._end_ticks, copy.pts + (packet.duration or 0))
        self.frames += 1
        self.first_ms = at_ms if self.first_ms is None else self.first_ms
        self.last_ms = at_ms
        return True

    @property
    def end_ms(self) -> int:
        """The wall time the file's media ends: its start plus what it plays for."""
        start = self.first_ms or 0
        media_ms = int(self._end_ticks * self._time_base * 1000) if self._time_base else 0
        return max(start + media_ms, self.last_ms or start)

    def close(self) -> int:
        """Finish the file; its size in bytes (0: nothing usable was written)."""
        try:
            self._out.close()
        except (OSError, av.error.FFmpegError) as exc:
            log.warning("closing %s: %s", self.relative, exc)
        return self.path.stat().st_size if self.path.exists() and self.frames else 0


class PacketRing:
    """The packets of the last `seconds`, from a keyframe on: what a clip starts with.

    Whole groups of pictures (a keyframe and what follows it) are kept, and one is dropped
    only once the next one starts early enough to cover the span alone.
    """

    def __init__(self, seconds: float) -> None:
        self._span_ms = int(seconds * 1000)
        self._groups: deque[list[tuple[int, Packet]]] = deque()

    def append(self, at_ms: int, packet: Packet) -> None:
        if packet.is_keyframe:
            self._groups.append([])
        elif not self._groups:
            return  # no keyframe yet: nothing before one could be decoded
        group = self._groups[-1]
        group.append((at_ms, packet))
        if len(group) > MAX_GOP_PACKETS:  # a stream without keyframes must not fill the memory
            self._groups.clear()
        while len(self._groups) > 1 and self._groups[1][0][0] <= at_ms - self._span_ms:
            self._groups.popleft()

    def since(self, start_ms: int) -> list[tuple[int, Packet]]:
        """Packets from the last keyframe at or before `start_ms` (else the oldest one) on."""
        first = 0
        for n, group in enumerate(self._groups):
            if group[0][0] <= start_ms:
                first = n
        return [item for group in list(self._groups)[first:] for item in group]

    def clear(self) -> None:
        self._groups.clear()

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups)


class CopyRecorder(BaseRecorder[Packet, PacketFile]):
    """Turns timestamped camera packets into segment files and event clips, without decoding.

    The loop (drivers/camera_loop.py) feeds it as it feeds the OpenCV Recorder: `on_frame`
    per packet, `interrupt` when the stream stops; segments, clips and storage health are
    drivers/camera_recording.py's. Not thread-safe: one thread feeds it.
    """

    def __init__(self, config: RecorderConfig, emit: Emit) -> None:
        packets = PacketRing(config.pre_event_seconds)
        super().__init__(config, emit, packets, EXTENSION)
        self._packets = packets  # the base's ring, with what a new connection needs: clear()
        self._root.mkdir(parents=True, exist_ok=True)  # its free space is checked before any file
        self._stream: VideoStream | None = None  # the source stream the packets come from

    def _admit(self, frame: Packet, at_ms: int) -> Packet:
        """The packet; one from a new connection first closes the files and empties the ring."""
        if frame.stream is not self._stream:  # a new connection: its files and ring start afresh
            self.interrupt()
            self._packets.clear()
            self._stream = frame.stream
        return frame

    def _can_start_file(self, frame: Packet) -> bool:
        """A file can only start on a keyframe: nothing before one could be decoded."""
        return bool(frame.is_keyframe)

    def _write(self, file: PacketFile, frame: Packet, at_ms: int) -> bool:
        try:
            if not file.write(frame, at_ms):
                self.counts.add("packet_out_of_order")
            return True
        except (OSError, av.error.FFmpegError) as exc:
            self._storage_failed("write_error", f"{file.relative}: {exc}", at_ms)
            return False

    def _end_ms(self, file: PacketFile, last_ms: int) -> int:
        """Its start plus the media time it plays for (the packets carry their durations)."""
        return file.end_ms

    def _new_file(self, relative: str) -> PacketFile | None:
        assert self._stream is not None  # set by the first packet; files are only opened for packets
        try:
            return PacketFile(self._root, relative, self._stream)
        except (OSError, av.error.FFmpegError, ValueError) as exc:
            self._storage_failed("write_error", f"{relative}: {exc}", self.last_frame_ms or 0)
            return None
