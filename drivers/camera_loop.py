"""The camera recorder's loop, in its own process (or thread): capture, stall watchdog, reopen
with backoff, frames to the Recorder.

Only the recorder imports this module (drivers/camera_process.py's `run_recorder` does, once
started), so OpenCV and NumPy are loaded there and never in the door process.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from drivers.camera import Recorder
from drivers.camera_files import CODECS, probe_codec
from drivers.camera_messages import (
    CameraFault,
    Emit,
    FrameSource,
    NoticePipe,
    RecorderConfig,
    RecorderStopped,
    SetCapture,
    Stop,
    is_file_source,
    to_ms,
)

if TYPE_CHECKING:  # imported when used: av is loaded only by a recorder in copy mode
    from drivers.camera_copy import CopyRecorder
    from drivers.camera_stream import PacketCapture

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how long the loop waits for a frame before looking at its queues again


class CaptureThread(threading.Thread):
    """Reads one source until it fails or is stopped; frames go to a small queue, oldest dropped.

    A read() that blocks is not waited for: the loop notices the stall and abandons the thread,
    which ends as soon as read() returns.
    """

    def __init__(self, config: RecorderConfig, frames: queue.Queue[tuple[int, np.ndarray]]) -> None:
        super().__init__(name="camera-capture", daemon=True)
        self._cfg = config
        self._frames = frames
        self._stopping = threading.Event()
        self.failure: tuple[str, str] | None = None  # (kind, detail) once the source gave up
        self.dropped = 0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        try:
            source = self._cfg.open_source(self._cfg.source)
        except Exception as exc:  # noqa: BLE001 - any driver error is a camera fault
            self.failure = ("open_failed", str(exc))
            return
        try:
            if not source.isOpened():
                self.failure = ("open_failed", f"cannot open {self._cfg.source!r}")
                return
            self._read_all(source, self._pace_seconds(source))
        finally:
            source.release()

    def _pace_seconds(self, source: FrameSource) -> float:
        fps = source.get(cv2.CAP_PROP_FPS) if is_file_source(self._cfg.source) else 0.0
        return 1.0 / fps if fps and fps > 0 else 0.0

    def _read_all(self, source: FrameSource, pace: float) -> None:
        due: float | None = None  # when the next frame of a file is due
        while not self._stopping.is_set():
            ok, image = source.read()
            if self._stopping.is_set():
                return
            if (
                (not ok or image is None)
                and self._cfg.loop_video_file
                and is_file_source(self._cfg.source)
                and source.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ):
                ok, image = source.read()  # the end of a looping file: start it again
            if not ok or image is None:
                self.failure = ("no_frames", f"{self._cfg.source!r} delivered no frame")
                return
            stamped = time.monotonic()
            self._hand_over((to_ms(self._cfg.clock()), image))
            if pace:
                # A file plays on a grid of `pace` that starts at its first frame (opening the
                # decoder can make that one late) and starts again at a frame more than `pace`
                # late instead of catching up in a burst: as the recorder's rate cap counts
                # (FrameRateCap), which drops a frame that comes too soon after the one before.
                due = stamped + pace if due is None or stamped > due + pace else due + pace
                self._stopping.wait(max(0.0, due - time.monotonic()))

    def _hand_over(self, item: tuple[int, np.ndarray]) -> None:
        while True:
            try:
                self._frames.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._frames.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass


class RecorderLoop:
    """Keeps the camera open while capture is wanted and feeds its frames to the Recorder."""

    def __init__(self, config: RecorderConfig, emit: Emit) -> None:
        self._cfg = config
        self._emit = emit
        self.recorder: Recorder | CopyRecorder
        if config.mode == "copy":  # the camera's own H.264 packets, stored as they come (PyAV)
            from drivers.camera_copy import CopyRecorder

            self.recorder = CopyRecorder(config, emit)
        else:
            try:
                codec = probe_codec(config.footage_dir)
            except (OSError, cv2.error) as exc:
                emit(CameraFault("write_error", f"codec probe: {exc}", to_ms(config.clock())))
                codec = CODECS[-1]
            self.recorder = Recorder(config, codec, emit)
        # Packets are small and none may go (a lost one smears the picture): room for 10 s.
        self._frames: queue.Queue[tuple[int, Any]] = queue.Queue(
            maxsize=300 if config.mode == "copy" else max(2, int(2 * config.max_fps))
        )
        self._capture: CaptureThread | PacketCapture | None = None
        self._wanted = False
        self._retry_at = 0.0
        self._backoff = config.retry_first_seconds
        self._fault: str | None = None
        self._last_frame_at = 0.0

    def run(self, commands: Any, notices: NoticePipe, parent_pid: int | None = None) -> None:
        """Until Stop (or, in its own process, until the door process is gone): obey commands,
        queue clip requests, read frames, watch for stalls."""
        while self._obey(commands) and (parent_pid is None or os.getppid() == parent_pid):
            self._take_notices(notices)
            self._watch_capture()
            self._feed_frames()
        self._set_capture(False)
        self._emit(RecorderStopped(time.process_time(), dict(self.recorder.counts.values)))

    def _obey(self, commands: Any) -> bool:
        while True:
            try:
                command = commands.get_nowait()
            except queue.Empty:
                return True
            if isinstance(command, Stop):
                return False
            if isinstance(command, SetCapture):
                self.recorder.set_segments(command.segments)
                self._set_capture(command.capture)

    def _take_notices(self, notices: NoticePipe) -> None:
        for notice in notices.take_all():
            self.recorder.request_clip(notice.event_id, notice.at_ms)

    def _set_capture(self, wanted: bool) -> None:
        self._wanted = wanted
        if not wanted and self._capture is not None:
            self._drop_capture()
            self._fault = None

    def _watch_capture(self) -> None:
        now = self._cfg.monotonic()
        capture = self._capture
        if capture is not None:
            if capture.failure is not None:
                self._faulted(*capture.failure, now)
            elif now - self._last_frame_at > self._cfg.stall_seconds:
                self._faulted("stalled", f"no frame for {self._cfg.stall_seconds:g} s", now)
        if self._wanted and self._capture is None and now >= self._retry_at:
            self._capture = self._new_capture()
            self._last_frame_at = now
            self._capture.start()

    def _new_capture(self) -> CaptureThread | PacketCapture:
        if self._cfg.mode == "copy":
            from drivers.camera_stream import PacketCapture

            return PacketCapture(self._cfg, self._frames)
        return CaptureThread(self._cfg, self._frames)

    def _faulted(self, kind: str, detail: str, now: float) -> None:
        self._drop_capture()
        if self._fault is None:
            self._emit(CameraFault(kind, detail, to_ms(self._cfg.clock())))
        log.warning("camera %s: %s; retrying in %.0f s", kind, detail, self._backoff)
        self._fault = kind
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self._cfg.retry_max_seconds)

    def _drop_capture(self) -> None:
        if self._capture is not None:
            self.recorder.counts.add("capture_queue_full", self._capture.dropped)
            self._capture.stop()
            self._capture = None
        while not self._frames.empty():  # frames of an abandoned capture are stale
            self._frames.get_nowait()
        self.recorder.interrupt()

    def _feed_frames(self) -> None:
        try:
            at_ms, image = self._frames.get(timeout=POLL_SECONDS)
        except queue.Empty:
            return
        while True:
            if self._capture is not None:
                self._frame_arrived(at_ms, image)
            try:
                at_ms, image = self._frames.get_nowait()
            except queue.Empty:
                return

    def _frame_arrived(self, at_ms: int, image: Any) -> None:  # a frame, or a packet in copy mode
        self._last_frame_at = self._cfg.monotonic()
        if self._fault is not None:
            self._fault = None
            self._backoff = self._cfg.retry_first_seconds
            self._emit(CameraFault("recovered", "frames again", at_ms))
        self.recorder.on_frame(image, at_ms)


RECORDER_NICENESS = 10  # the recorder process yields the CPU to the door's process


def run_recorder(
    config: RecorderConfig, commands: Any, notices: NoticePipe, output: Any, parent_pid: int | None = None
) -> None:
    """Entry point of the recorder process or thread.

    In its own process it lowers its priority and keeps OpenCV to one worker thread, so on a
    small board recording can take a spare core but never the door's.
    """
    if parent_pid is not None:  # in its own process, started by the door process `parent_pid`
        os.nice(RECORDER_NICENESS)
        cv2.setNumThreads(1)
    RecorderLoop(config, output.put).run(commands, notices, parent_pid)
    if parent_pid is not None and os.getppid() != parent_pid:
        # Orphaned: nobody will read our queues, so waiting to flush them would hang forever.
        output.cancel_join_thread()
        os._exit(0)
