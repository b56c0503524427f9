"""Which recorded files a browser's <video> plays as they are: MP4 holding H.264.

The stream-copy recorder (drivers/camera_copy.py) writes the camera's own H.264 into MP4,
which every browser plays; the OpenCV path writes mp4v or MJPG, which none does and which get
a WebM copy first (drivers/camera_files.py). Both end in .mp4, so the file's sample
description says which it is. Plain Python over the MP4 boxes: the web and door processes
import this without FFmpeg or OpenCV.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

BROWSER_CODECS = frozenset({b"avc1", b"avc3"})  # H.264 sample entries
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")  # the path down to stsd
MAX_MOOV_BYTES = 64 * 2**20  # a header larger than this is not one of ours


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, payload) boxes in `data`, stopping at the first malformed one."""
    found, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1 and at + 16 <= len(data):
            size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = len(data) - at
        if size < header or at + size > len(data):
            break
        found.append((kind, data[at + header : at + size]))
        at += size
    return found


def _moov(file: BinaryIO) -> bytes | None:
    """The movie header box's payload, wherever it sits among the top-level boxes."""
    while True:
        header = file.read(8)
        if len(header) < 8:
            return None
        size, kind = struct.unpack(">I4s", header)
        skip = size - 8
        if size == 1:
            size = struct.unpack(">Q", file.read(8))[0]
            skip = size - 16
        elif size == 0:
            skip = -1  # to the end of the file
        if kind == b"moov":
            if skip > MAX_MOOV_BYTES or skip < 0:
                return None
            return file.read(skip)
        if skip < 0:
            return None
        file.seek(skip, 1)


def _sample_entries(moov: bytes) -> list[bytes]:
    entries: list[bytes] = []
    for kind, trak in _boxes(moov):
        if kind != b"trak":
            continue
        level = [trak]
        for container in _CONTAINERS[2:]:
            level = [payload for data in level for k, payload in _boxes(data) if k == container]
        for stbl in level:
            for k, stsd in _boxes(stbl):
                if k == b"stsd" and len(stsd) >= 8:  # version/flags, entry count, entries
                    entries += [entry for entry, _ in _boxes(stsd[8:])]
    return entries


def plays_in_browser(path: Path) -> bool:
    """Whether `path` is an MP4 whose video is H.264 (False for anything else or unreadable)."""
    if path.suffix.lower() != ".mp4":
        return False
    try:
        with path.open("rb") as file:
            moov = _moov(file)
    except (OSError, struct.error):
        return False
    return moov is not None and any(entry in BROWSER_CODECS for entry in _sample_entries(moov))
