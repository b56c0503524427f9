"""Wall time of `openplus-door relay-off`, started as systemd starts it: a new process each time.

systemd runs it before the door service starts and after every stop, so its whole run
(interpreter start, imports, config, pin, state file) is time the door spends unmanaged.
Runs the installed console script on gpiozero's mock pins with the example config.
Prints `name: value unit` lines; the last line is the headline (p50). Target: under 300 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "openplus-door.toml"
RUNS = 20


def command() -> list[str]:
    """The `openplus-door` script next to this interpreter (./dev installs it), else -m."""
    script = Path(sys.executable).with_name("openplus-door")
    if script.exists():
        return [str(script), "relay-off"]
    return [sys.executable, "-m", "controller.cli.main", "relay-off"]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def main() -> None:
    argv = command()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "GPIOZERO_PIN_FACTORY": "mock",
            "OPENPLUS_DOOR_DATA_DIR": data_dir,
            "OPENPLUS_DOOR_CONFIG": str(CONFIG),
            "PYTHONPATH": str(ROOT),
        }
        samples = []
        for _ in range(RUNS + 1):
            started = time.perf_counter()
            subprocess.run(argv, env=env, cwd=data_dir, check=True, capture_output=True)
            samples.append((time.perf_counter() - started) * 1000)
        samples = samples[1:]  # the first run warms the page cache and bytecode
    print(f"relay_off_runs: {RUNS} count")
    print(f"relay_off_max: {max(samples):.0f} ms")
    print(f"relay_off_p90: {percentile(samples, 90):.0f} ms")
    print(f"relay_off_p50: {statistics.median(samples):.0f} ms")


if __name__ == "__main__":
    main()
