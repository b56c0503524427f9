"""A generated IP camera: an H.264 file as an RTSP camera would send it (a keyframe every `gop`
frames, no B-frames), encoded with the av wheel's libx264, for the stream-copy recorder's tests
and bench/camera.py."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.packet import Packet


def write_h264(
    path: Path,
    frames: int,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    gop: int = 10,
    bit_rate: int | None = None,
) -> Path:
    """A textured still background and a moving block: camera-like work for the encoder.

    `bit_rate` None keeps libx264's constant quality; a camera's 1080p stream is ~4 Mbit/s.
    """
    width, height = size
    rng = np.random.default_rng(3)
    tiles = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), np.uint8)
    background = np.repeat(np.repeat(tiles, 16, axis=0), 16, axis=1)[:height, :width].copy()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        # zerolatency: no B-frames, as IP cameras stream; keyint fixes the keyframe spacing.
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(gop), "keyint_min": str(gop)}
        block = max(8, height // 6)
        for n in range(frames):
            image = background.copy()
            x = (n * 7) % max(1, width - block)
            image[height // 3 : height // 3 + block, x : x + block] = (240, 160, 40)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def packets_of(path: Path) -> list[Packet]:
    """Every video packet of the file in stream order (the demuxer's end marker left out)."""
    with av.open(str(path)) as container:
        return [p for p in container.demux(container.streams.video[0]) if p.size]


def decoded_frames(path: Path) -> int:
    """How many pictures the file really decodes to: a file that is not valid raises."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
