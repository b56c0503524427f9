"""The entrance camera's OpenCV recorder: decoded frames in, segment files and event clips out.

It runs inside the recorder process (drivers/camera_loop.py) so a slow camera or disk can
never hold up the door. It never touches the database: it announces what it wrote, and what
went wrong, as small picklable messages (drivers/camera_messages.py, free of OpenCV so the door
process can import them); controller/services/footage.py decides when to record and keeps the
books. What it shares with the stream-copy recorder (drivers/camera_copy.py) is in
drivers/camera_recording.py.
"""

from __future__ import annotations

import cv2
import numpy as np

from drivers.camera_files import Codec, FrameRateCap, FrameRing, VideoFile, fit_within
from drivers.camera_messages import Emit, RecorderConfig
from drivers.camera_recording import BaseRecorder


class Recorder(BaseRecorder[np.ndarray, VideoFile]):
    """Turns timestamped frames into segment files and event clips, and says what it wrote.

    Frames are NumPy images, capped to `max_fps`, scaled to fit `max_width` x `max_height`
    and encoded again with the probed codec; segments, clips and storage health are
    drivers/camera_recording.py's. Not thread-safe: the recorder loop (or a test) feeds it
    from one thread.
    """

    def __init__(self, config: RecorderConfig, codec: Codec, emit: Emit) -> None:
        super().__init__(
            config, emit, FrameRing(config.pre_event_seconds, config.ring_jpeg_quality), codec.extension
        )
        self._codec = codec
        self._interval_ms = int(round(1000 / config.max_fps))
        self._rate = FrameRateCap(config.max_fps)
        self._size: tuple[int, int] | None = None

    def _admit(self, frame: np.ndarray, at_ms: int) -> np.ndarray | None:
        """The frame scaled to the recording size, or None past the frame-rate cap."""
        if not self._rate.keep(at_ms):
            self.counts.add("skipped_rate_cap")
            return None
        if self._size is None:
            self._size = fit_within(frame.shape[1], frame.shape[0], self._cfg.max_width, self._cfg.max_height)
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        return frame

    def _new_file(self, relative: str) -> VideoFile | None:
        assert self._size is not None  # the first frame sets it; files are only opened for frames
        try:
            return VideoFile(self._root, relative, self._codec, self._cfg.max_fps, self._size)
        except (OSError, cv2.error) as exc:
            self._storage_failed("write_error", str(exc), self.last_frame_ms or 0)
            return None

    def _write(self, file: VideoFile, frame: np.ndarray, at_ms: int) -> bool:
        file.write(frame, at_ms)
        return True

    def _end_ms(self, file: VideoFile, last_ms: int) -> int:
        """A frame's picture lasts one frame interval past its timestamp."""
        return last_ms + self._interval_ms
