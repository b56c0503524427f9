"""A clip recorded by stream copy (drivers/camera_copy.py: the camera's H.264 in fragmented MP4)
plays on the entries page in a real headless Chromium as it was written, seeking to the event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from controller.domain.events import EventType
from drivers.camera_copy import CopyRecorder
from drivers.camera_messages import RecorderConfig, to_ms
from tests.browser_support import chromium  # skips the module without Chromium
from tests.h264_support import write_h264
from tests.web.test_web_browser import NOW, Branch, go, served_branch, sign_in_as, wait_for
from tests.web.web_support import record_event

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def branch() -> Iterator[Branch]:
    yield from served_branch("opd-copy-")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium(1280, 900) as driver:
        yield driver


def test_a_stream_copied_clip_plays_in_the_page_from_the_event(
    browser: WebDriver, branch: Branch, tmp_path: Path
) -> None:
    camera = write_h264(tmp_path / "camera.mp4", 100, fps=25, gop=10)  # 4 s, a keyframe every 0.4 s
    granted = record_event(branch.runtime, EventType.ACCESS_GRANTED, NOW, reason="granted")
    at_ms = to_ms(NOW)
    footage = branch.services.footage
    assert footage is not None
    config = RecorderConfig(
        source=str(camera),
        footage_dir=branch.footage_dir,
        pre_event_seconds=1,
        post_event_seconds=1,
        min_free_bytes=0,
    )
    recorder = CopyRecorder(config, footage.handle)
    with av.open(str(camera)) as container:
        for n, packet in enumerate(p for p in container.demux(container.streams.video[0]) if p.size):
            recorder.on_frame(packet, at_ms - 2000 + n * 40)  # the entry 2 s into the video
            if n == 50:
                recorder.request_clip(granted, at_ms)
        recorder.interrupt()

    sign_in_as(browser, branch, "sec")
    go(browser, branch, f"/entries/{granted}")
    video = wait_for(browser, lambda d: d.find_elements(By.ID, "clip"), "no video element")[0]
    assert video.get_attribute("src").endswith(f"/entries/{granted}/video#t=1.2")  # keyframe at 0.8 s
    loaded = wait_for(
        browser,
        lambda d: d.execute_script(
            "const v = document.getElementById('clip');"
            "return v.readyState >= 2 && v.duration > 0"
            " ? [v.duration, v.currentTime, v.videoWidth, v.videoHeight] : null;"
        ),
        "the stream-copied clip did not play in the <video> element",
    )
    assert loaded[0] == pytest.approx(2.24, abs=0.1)  # 0.8 s to 3.0 s and its last frame
    assert loaded[1] == pytest.approx(1.2, abs=0.2)  # started at the event
    assert loaded[2:] == [320, 240]  # a picture decoded: Chromium plays the camera's H.264
    assert browser.find_element(By.ID, "cannot-play").get_attribute("hidden") is not None
    assert not (branch.footage_dir / "browser").exists()  # no WebM copy was made
