"""What recording costs: recorder CPU per recorded second at 1280x720 10 fps, the delay the
running recorder adds to a door decision (p99 with vs without it), and an IP camera's 1080p
H.264 stream (a generated file, replayed at its own pace as RTSP would deliver it) recorded both
ways: decoded and re-encoded by the OpenCV path, and copied as it comes (drivers/camera_copy.py).

Prints `name: value unit` lines; the last line is the headline (copy_cpu_per_recorded_s).
Targets: under 5 ms added at p99; stream copy under 0.02 s/s. Linux only (reads the
recorder's CPU from /proc). Takes about 70 s.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.decision import export_csv, percentile
from controller.config.settings import CameraSettings, parse_settings
from controller.domain.clock import utc_now
from controller.domain.modes import DoorMode
from controller.services.access import Authorizer
from controller.services.footage import CameraEventLog, FootageService
from controller.services.footage_plan import recorder_config
from controller.services.members import MemberAdmin
from controller.services.runtime import Runtime
from controller.store.footage import FootageStore
from drivers.camera_messages import CameraFault, SegmentStarted, SetCapture
from drivers.camera_process import RecorderHandle
from tests.h264_support import write_h264

SIZE, FPS, SECONDS = (1280, 720), 10, 10
# An IP camera's main stream: 1080p, 25 fps, a keyframe every 2 s, ~4 Mbit/s asked of the encoder.
CAMERA_SIZE, CAMERA_FPS, CAMERA_GOP, CAMERA_BITS = (1920, 1080), 25, 50, 4_000_000
MEMBERS = 20_000
DECISION_SECONDS, DECISION_GAP = 8.0, 0.004


def write_pattern(path: Path, seconds: int) -> Path:
    """A textured still background with a moving block and the frame number: camera-like work."""
    rng = np.random.default_rng(3)
    background = cv2.GaussianBlur(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), np.uint8), (21, 21), 0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for n in range(seconds * FPS):
        frame = background.copy()
        x = (n * 23) % (SIZE[0] - 200)
        cv2.rectangle(frame, (x, 250), (x + 200, 550), (40, 160, 220), -1)
        cv2.putText(frame, f"{n:05d}", (40, 100), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
        writer.write(frame)
    writer.release()
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_for(handle: RecorderHandle, kind: type, timeout: float) -> object:
    message = handle.next_message(kind, timeout)
    if message is None:
        raise SystemExit(f"bench: no {kind.__name__} from the recorder within {timeout} s")
    return message


def recorder_cpu(source: Path, footage: Path, mode: str = "decode") -> tuple[float, int]:
    """Recorder-process CPU seconds from the first frame to the end of the video, and bytes."""
    config = recorder_config(CameraSettings(source=str(source), mode=mode), footage)
    handle = RecorderHandle(replace(config, retry_first_seconds=60), in_process=True)
    handle.start()
    handle.send(SetCapture(capture=True, segments=True))
    wait_for(handle, SegmentStarted, 30)
    started = cpu_seconds(handle.pid)
    wait_for(handle, CameraFault, SECONDS + 10)  # the file has ended: "no_frames"
    used = cpu_seconds(handle.pid) - started
    handle.stop()
    return used, sum(p.stat().st_size for p in footage.rglob("*.mp4"))


def decisions(authorizer: Authorizer, seconds: float) -> list[float]:
    rng = random.Random(11)
    samples, i = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        card = str(29990000000000 + rng.randint(1, MEMBERS))
        started = time.perf_counter()
        authorizer.authorize(card, "000000", f"reader{i}", DoorMode.OPENPLUS, utc_now())
        samples.append((time.perf_counter() - started) * 1000)
        i += 1
        time.sleep(DECISION_GAP)  # a busy door, not a saturated CPU
    return samples


def wait_until_recording(runtime: Runtime, timeout: float = 30) -> None:
    """The comparison means nothing unless frames are flowing: wait for a segment row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with closing(runtime.connection()) as conn:
            if FootageStore(conn).unfinished_segments():
                return
        time.sleep(0.1)
    raise SystemExit("bench: the recorder wrote no segment")


def decision_p99(tmp: Path, source: Path) -> tuple[float, float, int]:
    """Decision p99 without, then with, the recorder recording and clipping every decision."""
    settings = parse_settings(
        {"storage": {"data_dir": str(tmp / "data")}, "camera": {"enabled": True, "source": str(source)}},
        "bench",
    )
    runtime = Runtime.open(settings)
    with closing(runtime.connection()) as conn:
        MemberAdmin(runtime.members(conn), runtime.events(conn), utc_now, "b").import_csv(
            export_csv(MEMBERS), "bench"
        )
        plain = Authorizer(runtime.members(conn), runtime.events(conn), runtime.hasher, settings.access, "b")
        without = decisions(plain, DECISION_SECONDS)
        footage = FootageService(
            settings.camera,
            tmp / "footage",
            runtime.connection,
            "b",
            config=replace(recorder_config(settings.camera, tmp / "footage"), retry_first_seconds=0.2),
        )
        footage.start()
        footage.set_mode(DoorMode.OPENPLUS)
        wait_until_recording(runtime)
        recording = Authorizer(
            runtime.members(conn), CameraEventLog(conn, footage), runtime.hasher, settings.access, "b"
        )
        with_recorder = decisions(recording, DECISION_SECONDS)
        footage.stop()
    return percentile(without, 99), percentile(with_recorder, 99), footage.notices_dropped


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        source = write_pattern(tmp / "pattern-720p.mp4", SECONDS)
        cpu, size = recorder_cpu(source, tmp / "cpu-footage")
        p99_without, p99_with, dropped = decision_p99(tmp, source)
        camera = write_h264(
            tmp / "camera-1080p.mp4", SECONDS * CAMERA_FPS, CAMERA_SIZE, CAMERA_FPS, CAMERA_GOP, CAMERA_BITS
        )
        camera_bits = camera.stat().st_size * 8 / SECONDS
        decoded_cpu, _ = recorder_cpu(camera, tmp / "decode-footage", "decode")
        copied_cpu, copied_size = recorder_cpu(camera, tmp / "copy-footage", "copy")
    print(f"resolution: {SIZE[0]}x{SIZE[1]} px")
    print(f"frame_rate: {FPS} fps")
    print(f"recorder_cpu_per_recorded_s: {cpu / SECONDS:.3f} s/s")
    print(f"footage_per_hour: {size / SECONDS * 3600 / 1e9:.2f} GB")
    print(f"decision_p99_without_recorder_ms: {p99_without:.3f} ms")
    print(f"decision_p99_with_recorder_ms: {p99_with:.3f} ms")
    print(f"clip_notices_dropped: {dropped} count")
    print(f"decision_added_p99_ms: {p99_with - p99_without:.3f} ms")
    print(f"camera_stream: {CAMERA_SIZE[0]}x{CAMERA_SIZE[1]} px")
    print(f"camera_stream_rate: {CAMERA_FPS} fps")
    print(f"camera_stream_bitrate: {camera_bits / 1e6:.2f} Mbit/s")
    print(f"opencv_cpu_per_recorded_s: {decoded_cpu / SECONDS:.3f} s/s")
    print(f"copy_footage_per_hour: {copied_size / SECONDS * 3600 / 1e9:.2f} GB")
    print(f"copy_cpu_per_recorded_s: {copied_cpu / SECONDS:.4f} s/s")


if __name__ == "__main__":
    main()
