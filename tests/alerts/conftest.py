"""Real peers for the alert channels, all on loopback: an SMTP server with STARTTLS and login
(aiosmtpd), an HTTP receiver that checks the webhook's HMAC (stdlib http.server) and a
Mosquitto broker (Debian's `mosquitto`, started here on a free port), each able to go down
and come back on the same port."""
from __future__ import annotations

import email
import hashlib
import hmac
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, TypeVar

import paho.mqtt.client as mqtt
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import FakeClock

HANG_GUARD = 10.0  # seconds: only ever reached when something is broken
SMTP_USER, SMTP_PASSWORD = "door", "s3cret-door"
WEBHOOK_SECRET = "a-webhook-secret-of-some-length"
# A Wednesday 14:00 in the branch (12:00 UTC, summer time): no quiet period, Open+ hours.
START = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


T = TypeVar("T")


class Collector(Generic[T]):
    """What a peer received, with a wait that ends when enough arrived (or the hang guard)."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._cond = threading.Condition()

    def add(self, item: T) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = HANG_GUARD) -> list[T]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"{len(self.items)} of {count} arrived within {timeout} s")
            return list(self.items)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


# --- SMTP ---------------------------------------------------------------------------------
@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class MailHandler:
    def __init__(self, mails: Collector[Message]) -> None:
        self.mails = mails

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        assert session.authenticated, "a mail arrived without login"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.mails.add(email.message_from_bytes(content))
        return "250 OK"


def _login(server: SmtpServer, session: Session, envelope: Envelope, mechanism: str,
           auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    return AuthResult(success=ok)


class SmtpPeer:
    """aiosmtpd requiring STARTTLS before anything and a login before a mail."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.port = free_port()
        self.cert = cert
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self.mails: Collector[Message] = Collector()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            MailHandler(self.mails), hostname="127.0.0.1", port=self.port,
            tls_context=self._context, require_starttls=True, authenticator=_login,
            auth_require_tls=True, ready_timeout=HANG_GUARD)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp(tls_files: tuple[Path, Path]) -> Iterator[SmtpPeer]:
    peer = SmtpPeer(*tls_files)
    peer.start()
    yield peer
    peer.stop()


# --- the webhook receiver -----------------------------------------------------------------
class WebhookPeer:
    """Answers 204 to a POST whose X-OpenPlus-Signature is right, 401 otherwise; 503 while
    `failing` (a receiver that is down)."""

    def __init__(self) -> None:
        self.received: Collector[dict[str, Any]] = Collector()
        self.bad_signatures = 0
        self.failing = False
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if peer.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body,
                                                hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get("X-OpenPlus-Signature", ""), expected):
                    peer.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(204)
                self.end_headers()
                peer.received.add(json.loads(body))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookPeer]:
    peer = WebhookPeer()
    yield peer
    peer.close()


# --- Mosquitto ----------------------------------------------------------------------------
def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")


class Broker:
    """A real Mosquitto on loopback, and a subscriber to every topic collecting messages."""

    def __init__(self, binary: str, config_dir: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.config = config_dir / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                               "persistence false\n", encoding="utf-8")
        self.messages: Collector[tuple[str, dict[str, Any]]] = Collector()
        self._process: subprocess.Popen[bytes] | None = None
        self._subscriber: mqtt.Client | None = None
        self._subscribed = threading.Event()

    def start(self) -> None:
        self._process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + HANG_GUARD
        while True:  # until it listens (a condition, not a pause: each try is a connect)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise AssertionError("mosquitto did not start listening") from None
                self._stopped_wait(0.05)

    def _stopped_wait(self, seconds: float) -> None:
        assert self._process is not None
        try:
            self._process.wait(seconds)
        except subprocess.TimeoutExpired:
            pass

    def subscribe(self) -> None:
        """Subscribe to '#' and wait until the broker confirmed it."""
        self._subscribed.clear()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alerts-test-subscriber")
        client.on_connect = lambda c, u, f, rc, p: c.subscribe("#", qos=1)
        client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        client.on_message = lambda c, u, m: self.messages.add((m.topic, json.loads(m.payload)))
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        self._subscriber = client
        assert self._subscribed.wait(HANG_GUARD), "the test subscriber was not subscribed"

    def stop(self) -> None:
        if self._subscriber is not None:
            self._subscriber.disconnect()
            self._subscriber.loop_stop()
            self._subscriber = None
        if self._process is not None:
            self._process.terminate()
            self._process.wait(HANG_GUARD)
            self._process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; ./dev installs it)")
    peer = Broker(binary, tmp_path)
    peer.start()
    peer.subscribe()
    yield peer
    peer.stop()

