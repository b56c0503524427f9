"""Fixtures for the SIP2 client tests: the real pysip2 server on loopback (with and without
login), the fault-injecting proxy in front of it, and pools that are closed after each test."""
from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.sim.lms_server import LOGIN_PASSWORD, LOGIN_USER, RunningServer, build_server
from drivers.sip2.connection import Sip2Settings
from drivers.sip2.pool import Sip2Pool
from tests.lms.fault_proxy import FaultProxy

HANG_GUARD = 10.0  # seconds: only ever reached when something is broken


@pytest.fixture
def lms() -> Iterator[RunningServer]:
    """pysip2's server with the demo members, no login required."""
    running = RunningServer(build_server())
    running.start()
    yield running
    running.stop()


@pytest.fixture
def lms_with_login() -> Iterator[RunningServer]:
    """pysip2's server that closes any connection whose first message is not a good login."""
    running = RunningServer(build_server(login_required=True))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def proxy(lms: RunningServer) -> Iterator[FaultProxy]:
    """The fault proxy in front of `lms`; passes everything until a test sets a fault."""
    fault_proxy = FaultProxy(lms.port)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "lms.pem", tmp_path / "lms.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=HANG_GUARD,
    )
    return cert, key


@pytest.fixture
def tls_proxy(lms: RunningServer, tls_files: tuple[Path, Path]) -> Iterator[FaultProxy]:
    """The proxy speaking TLS to the client (as a TLS-terminating LMS front would)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    fault_proxy = FaultProxy(lms.port, tls=context)
    yield fault_proxy
    fault_proxy.close()


def settings_for(port: int, **overrides: Any) -> Sip2Settings:
    """Settings for a loopback LMS with the demo server's institution and login."""
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "institution_id": "BIB"}
    if overrides.pop("login", False):
        values.update(login_user=LOGIN_USER, login_password=LOGIN_PASSWORD)
    return Sip2Settings(**{**values, **overrides})


@pytest.fixture
def make_pool() -> Iterator[Callable[..., Sip2Pool]]:
    """Build, start and (by default) wait for a pool; every pool is closed after the test."""
    pools: list[Sip2Pool] = []

    def make(settings: Sip2Settings, *, ready: bool = True, **options: Any) -> Sip2Pool:
        pool = Sip2Pool(settings, **options)
        pools.append(pool)
        pool.start()
        if ready:
            assert pool.wait_ready(HANG_GUARD, connections=pool.size), f"pool never connected: {pool.last_error}"
        return pool

    yield make
    for pool in pools:
        pool.close()
