"""time.sleep for the date guard of `./dev test` (the fast tests under Debian's faketime).

`./dev test` runs every Python process of the date guard with OPENPLUS_FAKETIME_SLEEP naming this
file; a one-line .pth file that `./dev` puts in .venv runs it at start-up, also in the
subprocesses the tests start (which set their own PYTHONPATH, so sitecustomize would not do).
Without that variable the .pth line does nothing.

Why: Python 3.11+ sleeps with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline).
libfaketime 0.9.10 (Debian bookworm) moves that deadline by the fake offset even when
FAKETIME_DONT_FAKE_MONOTONIC=1 leaves the monotonic clock alone, so the kernel gets a deadline
before 1970 and every time.sleep raises "OSError: [Errno 22] Invalid argument"
(https://github.com/wolfcw/libfaketime/issues/426). select() with a timeout is a relative wait
that libfaketime passes on untouched, so sleeping through it is exact. The replacement is only
installed when time.sleep(0) actually fails, so a fixed libfaketime gets the real time.sleep.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)  # retried with the time left after a signal (PEP 475)


try:
    time.sleep(0)
except OSError:
    _sleep.__doc__ = time.sleep.__doc__
    time.sleep = _sleep
