"""The SIP2 patron check through the pool against a local SIP2 server (pysip2's, in a child
process, with the demo members and a required login), on loopback.

- `sip2_raw_roundtrip`: a bare socket sending one prebuilt 23 and reading the 24: the server's
  own reply time plus loopback, the floor no client can beat.
- `sip2_check`: `Sip2Pool.check_patron` on one kept-alive connection (encode, send, read,
  verify, parse); `sip2_added` is its p50/p99 minus the raw ones: what our client adds.
- `sip2_checks_per_s`: checks one pooled connection sustains back to back.
- `sip2_connect_login`: a new TCP connection, login 93 and SC status 99: what the pool saves.
- `sip2_timeout_overshoot`: how far past a 0.3 s timeout a check against a silent LMS returns.

Prints `name: value unit` lines; the headline (last line) is what the pool adds at p99
(the issue's target: under 5 ms): pooled check p99 minus the bare round trip's p99.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support.relay_timing import percentile
from drivers.sip2.codec import credentials_accepted, encode_patron_status
from drivers.sip2.connection import Sip2Connection, Sip2Settings
from drivers.sip2.errors import Sip2Timeout
from drivers.sip2.pool import Sip2Pool

ROOT = Path(__file__).resolve().parent.parent
CHECKS = 3000
WARMUP = 200
CONNECTS = 50
CARD, PIN = "29990000000001", "1234"
LOGIN_USER, LOGIN_PASSWORD = "door", "s3cret"  # controller/sim/lms_server.py's demo login


def start_server() -> tuple[subprocess.Popen[str], int]:
    """The demo pysip2 server in a child process (its own interpreter and GIL, like a real LMS)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "controller.sim.lms_server", "--login"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.startswith("listening "):
        child.kill()
        raise SystemExit(f"the SIP2 test server did not start: {line!r}")
    return child, int(line.split()[1])


def ms(seconds: float) -> float:
    return seconds * 1000


def raw_roundtrips(port: int) -> list[float]:
    """A bare socket: log in, then time prebuilt 23 frames (same AY each time: the server
    answers a repeated AY/AZ from its replay cache, so vary it over 0-9)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection = Sip2Connection(
        Sip2Settings(
            "127.0.0.1", port, login_user=LOGIN_USER, login_password=LOGIN_PASSWORD, institution_id="BIB"
        ),
        sock,
        time.monotonic,
    )
    connection.login(time.monotonic() + 5)
    frames = [
        encode_patron_status(
            institution="BIB",
            barcode=CARD,
            pin=PIN,
            terminal_password="",
            language="000",
            moment=datetime.now(),
            sequence=seq,
            charset="cp850",
        )
        for seq in range(10)
    ]
    samples = []
    for n in range(WARMUP + CHECKS):
        started = time.perf_counter()
        sock.sendall(frames[(n + 1) % 10])  # the login used AY0
        data = b""
        while not data.endswith(b"\r"):
            data += sock.recv(4096)
        if n >= WARMUP:
            samples.append(time.perf_counter() - started)
    sock.close()
    return samples


def pooled_checks(settings: Sip2Settings) -> tuple[list[float], float]:
    pool = Sip2Pool(settings, size=1)
    pool.start()
    assert pool.wait_ready(10), pool.last_error
    for _ in range(WARMUP):
        pool.check_patron(CARD, PIN, timeout=2.0)
    samples = []
    run_started = time.perf_counter()
    for _ in range(CHECKS):
        started = time.perf_counter()
        reply = pool.check_patron(CARD, PIN, timeout=2.0)
        samples.append(time.perf_counter() - started)
        assert credentials_accepted(reply)
    per_second = CHECKS / (time.perf_counter() - run_started)
    pool.close()
    return samples, per_second


def connect_logins(settings: Sip2Settings) -> list[float]:
    samples = []
    for _ in range(CONNECTS):
        started = time.perf_counter()
        deadline = time.monotonic() + 5
        connection = Sip2Connection.open(settings, deadline)
        connection.sc_status(deadline)
        samples.append(time.perf_counter() - started)
        connection.close()
    return samples


def timeout_overshoot() -> float:
    """How late a check gives up on an LMS that accepts the connection and never answers
    (deadline 0.3 s; the connection's deadline is what bounds the pool's check)."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    connection = Sip2Connection.open(Sip2Settings("127.0.0.1", port), time.monotonic() + 5)
    started = time.monotonic()
    try:
        connection.check_patron(CARD, PIN, started + 0.3, datetime.now())
        raise SystemExit("a silent LMS answered?")
    except Sip2Timeout:
        elapsed = time.monotonic() - started
    connection.close()
    silent.close()
    return elapsed - 0.3


def main() -> None:
    child, port = start_server()
    try:
        settings = Sip2Settings(
            "127.0.0.1", port, institution_id="BIB", login_user=LOGIN_USER, login_password=LOGIN_PASSWORD
        )
        raw = raw_roundtrips(port)
        checks, per_second = pooled_checks(settings)
        connects = connect_logins(settings)
        overshoot = timeout_overshoot()
    finally:
        child.kill()
        child.wait()
    raw_p50, raw_p99 = statistics.median(raw), percentile(raw, 99)
    check_p50, check_p99 = statistics.median(checks), percentile(checks, 99)
    print(f"sip2_checks: {CHECKS} count")
    print(f"sip2_raw_roundtrip_p50: {ms(raw_p50):.3f} ms")
    print(f"sip2_raw_roundtrip_p99: {ms(raw_p99):.3f} ms")
    print(f"sip2_check_p50: {ms(check_p50):.3f} ms")
    print(f"sip2_added_p50: {ms(check_p50 - raw_p50):.3f} ms")
    print(f"sip2_checks_per_s: {per_second:.0f} checks/s")
    print(f"sip2_connect_login_p50: {ms(statistics.median(connects)):.3f} ms")
    print(f"sip2_timeout_overshoot: {ms(overshoot):.1f} ms")
    print(f"sip2_check_p99: {ms(check_p99):.3f} ms")
    print(f"sip2_added_p99: {ms(check_p99 - raw_p99):.3f} ms")


if __name__ == "__main__":
    main()
