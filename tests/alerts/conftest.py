"""Real peers for the alert channels, all on loopback: an SMTP server with STARTTLS and login
(aiosmtpd), an HTTP receiver that checks the webhook's HMAC (stdlib http.server) and a
Mosquitto broker (the `broker` fixture in tests/conftest.py, tests/mqtt_support.py), each able
to go down and come back on the same port."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.conftest import FakeClock
from tests.mqtt_support import HANG_GUARD, Collector, free_port

SMTP_USER, SMTP_PASSWORD = "door", "s3cret-door"
WEBHOOK_SECRET = "a-webhook-secret-of-some-length"
# A Wednesday 14:00 in the branch (12:00 UTC, summer time): no quiet period, Open+ hours.
START = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


# --- SMTP ---------------------------------------------------------------------------------
class MailHandler:
    def __init__(self, mails: Collector[Message]) -> None:
        self.mails = mails

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        assert session.authenticated, "a mail arrived without login"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.mails.add(email.message_from_bytes(content))
        return "250 OK"


def _login(
    server: SmtpServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
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
            MailHandler(self.mails),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self._context,
            require_starttls=True,
            authenticator=_login,
            auth_require_tls=True,
            ready_timeout=HANG_GUARD,
        )
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
                expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
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
