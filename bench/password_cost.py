"""What one argon2id password hash costs here: milliseconds and extra memory per parameter set.

Prints `name: value unit` lines. Each parameter set runs in a fresh process, so its peak RSS
(minus the process's RSS before the first hash) is the memory one hash needs; time is the
median of several hashes. Run it on the target machine (a Raspberry Pi) before changing
controller.services.users.PASSWORD_HASHER; the README's sign-in section quotes its output.

    .venv/bin/python bench/password_cost.py
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

# (name, time_cost, memory_cost in KiB, parallelism)
CANDIDATES = [
    ("argon2-cffi_default_t3_m64MiB_p4", 3, 64 * 1024, 4),  # what older hashes used
    ("owasp_t2_m19MiB_p1", 2, 19 * 1024, 1),  # controller.services.users.PASSWORD_HASHER
    ("owasp_t3_m12MiB_p1", 3, 12 * 1024, 1),
]
ROUNDS = 7


def measure(time_cost: int, memory_kib: int, parallelism: int) -> dict[str, float]:
    """In this process: median ms per hash and peak RSS growth in MiB."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        hasher.hash("correct horse battery staple")
        times.append((time.perf_counter() - start) * 1000)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"ms": statistics.median(times), "mib": (after - before) / 1024}


def main() -> None:
    if len(sys.argv) == 4:  # the child: one parameter set
        print(json.dumps(measure(*(int(arg) for arg in sys.argv[1:]))))
        return
    for name, time_cost, memory_kib, parallelism in CANDIDATES:
        out = subprocess.run(
            [sys.executable, __file__, str(time_cost), str(memory_kib), str(parallelism)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout)
        print(f"{name}_hash_ms: {result['ms']:.1f} ms")
        print(f"{name}_peak_rss_growth: {result['mib']:.1f} MiB")


if __name__ == "__main__":
    main()
