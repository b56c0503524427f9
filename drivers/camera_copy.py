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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import av.error
from av.packet import Packet
from av.video.stream import VideoStream

from drivers.camera import Counts
from drivers.camera_messages import (
    CameraFault,
    ClipFinished,
    Emit,
    RecorderConfig,
    SegmentFinished,
    SegmentStarted,
)

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


@dataclass
class _Clip:
    event_id: int
    start_ms: int
    end_ms: int
    file: PacketFile | None = None


def segment_stem(at_ms: int) -> str:
    """`segments/<UTC date>/<HHMMSS>-<ms>`: the name the OpenCV path gives a segment too."""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC)
    return stamp.strftime("segments/%Y-%m-%d/%H%M%S-") + f"{at_ms % 1000:03d}"


class CopyRecorder:
    """Turns timestamped camera packets into segment files and event clips, without decoding.

    The loop (drivers/camera_loop.py) feeds it as it feeds the OpenCV Recorder: `on_frame`
    per packet, `interrupt` when the stream stops. Not thread-safe: one thread feeds it.
    """

    def __init__(self, config: RecorderConfig, emit: Emit) -> None:
        self._cfg = config
        self._root = Path(config.footage_dir)
        self._root.mkdir(parents=True, exist_ok=True)  # its free space is checked before any file
        self._emit = emit
        self._segment_ms = int(config.segment_seconds * 1000)
        self._ring = PacketRing(config.pre_event_seconds)
        self._stream: VideoStream | None = None  # the source stream the packets come from
        self._segments_on = False
        self._segment: PacketFile | None = None
        self._segment_ends_ms = 0
        self._clips: dict[int, _Clip] = {}
        self._storage_fault: str | None = None
        self._next_storage_check_ms = 0
        self.last_frame_ms: int | None = None
        self.counts = Counts()

    def set_segments(self, on: bool) -> None:
        self._segments_on = on
        if not on:
            self._close_segment()

    def request_clip(self, event_id: int, at_ms: int) -> None:
        """A clip from `pre` before to `post` after `at_ms`; what the ring holds goes in now."""
        if event_id in self._clips:
            return
        if len(self._clips) >= self._cfg.max_concurrent_clips:
            self.counts.add("clip_too_many")
            return
        if self._storage_fault is not None:
            self.counts.add("clip_storage_fault")
            return
        clip = _Clip(
            event_id,
            at_ms - int(self._cfg.pre_event_seconds * 1000),
            at_ms + int(self._cfg.post_event_seconds * 1000),
        )
        self._clips[event_id] = clip
        for packet_ms, packet in self._ring.since(clip.start_ms):
            if packet_ms <= clip.end_ms and not self._write_clip(clip, packet, packet_ms):
                return
        if self.last_frame_ms is not None and self.last_frame_ms >= clip.end_ms:
            self._finish_clip(clip)

    def on_frame(self, packet: Packet, at_ms: int) -> None:
        """One packet of the camera's video stream, stamped by the clock when it was read."""
        self.counts.add("frames_in")
        if packet.stream is not self._stream:  # a new connection: its files and ring start afresh
            self.interrupt()
            self._ring.clear()
            self._stream = packet.stream
        self.last_frame_ms = at_ms
        self._ring.append(at_ms, packet)
        for clip in list(self._clips.values()):
            if at_ms > clip.end_ms:
                self._finish_clip(clip)
        if not self._storage_usable(at_ms):
            return
        if self._segments_on:
            self._write_segment(packet, at_ms)
        for clip in list(self._clips.values()):
            self._write_clip(clip, packet, at_ms)

    def interrupt(self) -> None:
        """The packets stopped (camera fault, capture off, shutdown): finish every open file."""
        self._close_segment()
        for clip in list(self._clips.values()):
            self._finish_clip(clip)

    # --- segments and clips ------------------------------------------------------------
    def _write_segment(self, packet: Packet, at_ms: int) -> None:
        if self._segment is not None and at_ms >= self._segment_ends_ms and packet.is_keyframe:
            self._close_segment()
        if self._segment is None:
            if not packet.is_keyframe:
                self.counts.add("segment_waits_for_keyframe")
                return
            self._segment = self._open(segment_stem(at_ms))
            if self._segment is None:
                return
            self._segment_ends_ms = (at_ms // self._segment_ms + 1) * self._segment_ms
            self._emit(SegmentStarted(self._segment.relative, at_ms))
        self._write(self._segment, packet, at_ms)

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        size = segment.close()
        if segment.first_ms is not None and size:
            self._emit(
                SegmentFinished(segment.relative, segment.first_ms, segment.end_ms, segment.frames, size)
            )
        else:
            self._storage_failed("write_error", f"{segment.relative} is empty", segment.last_ms or 0)

    def _write_clip(self, clip: _Clip, packet: Packet, at_ms: int) -> bool:
        if self._clips.get(clip.event_id) is not clip:  # finished meanwhile (storage fault)
            return False
        if clip.file is None:
            if not packet.is_keyframe:
                return True  # the clip starts at the next keyframe
            clip.file = self._open(f"clips/event-{clip.event_id}")
            if clip.file is None:
                self._clips.pop(clip.event_id, None)
                return False
        return self._write(clip.file, packet, at_ms)

    def _finish_clip(self, clip: _Clip) -> None:
        self._clips.pop(clip.event_id, None)
        if clip.file is None:
            self.counts.add("clip_without_frames")
            return
        size = clip.file.close()
        if clip.file.first_ms is not None and size:
            self._emit(
                ClipFinished(
                    clip.event_id,
                    clip.file.relative,
                    clip.file.first_ms,
                    clip.file.end_ms,
                    clip.file.frames,
                    size,
                )
            )

    def _write(self, file: PacketFile, packet: Packet, at_ms: int) -> bool:
        try:
            if not file.write(packet, at_ms):
                self.counts.add("packet_out_of_order")
            return True
        except (OSError, av.error.FFmpegError) as exc:
            self._storage_failed("write_error", f"{file.relative}: {exc}", at_ms)
            return False

    def _open(self, stem: str) -> PacketFile | None:
        relative = f"{stem}.{EXTENSION}"
        n = 1
        while (self._root / relative).exists():
            relative, n = f"{stem}-{n}.{EXTENSION}", n + 1
        assert self._stream is not None  # set by the first packet; files are only opened for packets
        try:
            return PacketFile(self._root, relative, self._stream)
        except (OSError, av.error.FFmpegError, ValueError) as exc:
            self._storage_failed("write_error", f"{relative}: {exc}", self.last_frame_ms or 0)
            return None

    # --- storage health (as the OpenCV Recorder's) ---------------------------------------
    def _storage_usable(self, at_ms: int) -> bool:
        """Checks free space about once a second; a fault closes the files until it clears."""
        if at_ms >= self._next_storage_check_ms:
            self._next_storage_check_ms = at_ms + 1000
            try:
                free = self._cfg.free_bytes(self._root)
            except OSError as exc:
                self._storage_failed("write_error", str(exc), at_ms)
                return False
            if free < self._cfg.min_free_bytes:
                self._storage_failed("disk_full", f"{free // 2**20} MiB free", at_ms)
            elif self._storage_fault is not None:
                self._storage_fault = None
                self._emit(CameraFault("recovered", "storage writable again", at_ms))
        return self._storage_fault is None

    def _storage_failed(self, kind: str, detail: str, at_ms: int) -> None:
        if self._storage_fault is None:
            self._emit(CameraFault(kind, detail, at_ms))
        self._storage_fault = kind
        self._next_storage_check_ms = at_ms + 1000
        self.interrupt()
