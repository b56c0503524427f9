"""The door process imports neither OpenCV and NumPy nor the web stack.

Why: on a Raspberry Pi the door process's memory is the budget that matters (bench/memory.py,
target under 80 MB). OpenCV and NumPy cost ~75 MB (PyAV too is heavy) and are needed only where
frames are handled: the camera recorder's own process (drivers/camera_loop.py), the line
counter's, and the web process's browser transcode. FastAPI, Starlette, uvicorn, Jinja2 and
prometheus_client belong to the web process. A module once imported stays loaded for good, so
one careless top-level import anywhere on the door's side would bring them all back; each check
runs in a fresh interpreter, since pytest's own process has imported everything long before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What `openplus-door serve` and `openplus-door simulate` import (controller/cli/run.py; the
# simulator's modules are imported by its handler), the camera's door side they start, and what
# controller/door/camera_counting.py imports once a camera counter is configured.
DOOR_MODULES = [
    "controller.cli.main",
    "controller.cli.run",
    "controller.door.branch",
    "controller.sim.console",
    "controller.sim.hardware",
    "controller.services.footage",
    "drivers.camera_messages",
    "drivers.camera_process",
    "drivers.line_counter",
    "drivers.line_counter_runner",
]
# Frame handling (OpenCV, NumPy, PyAV), the web stack, and the import command's progress bar.
NOT_IN_THE_DOOR = ["cv2", "numpy", "av", "fastapi", "starlette", "uvicorn", "jinja2", "prometheus_client"]
NOT_IN_THE_DOOR += ["tqdm"]


def loaded_after_importing(modules: list[str]) -> set[str]:
    """The top-level packages a fresh interpreter holds after importing `modules`."""
    program = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_the_door_process_loads_no_opencv_numpy_or_web_stack() -> None:
    loaded = loaded_after_importing(DOOR_MODULES)
    assert loaded >= {"controller", "drivers", "gpiozero", "pydantic"}  # it did import the door
    assert sorted(loaded & set(NOT_IN_THE_DOOR)) == []


@pytest.mark.parametrize(
    ("module", "heavy"),
    [("drivers.camera_loop", "cv2"), ("drivers.camera", "numpy"), ("controller.api.server", "fastapi")],
)
def test_the_check_sees_a_heavy_import(module: str, heavy: str) -> None:
    """The same check on modules that do need them: proof it would catch one on the door side."""
    assert heavy in loaded_after_importing([module])
