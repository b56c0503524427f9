"""The door screen's HTTP server: the page, its script and style, and the event stream.

Runs in the door process on threads of its own (ThreadingHTTPServer: one per connection), never
on the door thread, and binds a loopback address only (ScreenSettings refuses another, and so
does this class): the kiosk browser is on the same machine. The stream is Server-Sent Events:
the current state at once, every new version as it comes, a beat every heartbeat_seconds so
the page notices a door process that died without closing the connection, and `down` when the
door process stops. The browser's EventSource reconnects by itself.
"""

from __future__ import annotations

import json
import logging
import threading
from functools import cache
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from string import Template

from controller.config.screen import ScreenSettings, is_loopback
from controller.domain.catalog import render
from controller.door.screen.feed import ScreenFeed

log = logging.getLogger(__name__)

STATIC = {
    "/screen.css": ("screen.css", "text/css; charset=utf-8"),
    "/screen.js": ("screen.js", "text/javascript; charset=utf-8"),
}
# The page's own words, from the string catalog; placeholders stay for the script to fill.
PAGE_TEXTS = {
    "title": ("screen.title", {}),
    "offline": ("screen.offline", {}),
    "offline_hint": ("screen.offline_hint", {}),
    "unlocked": ("screen.unlocked", {"seconds": "{seconds}"}),
    "closing": ("screen.closing_in", {"time": "{time}"}),
    "pin": ("screen.pin", {}),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
RETRY_MS = 1000  # how soon EventSource tries again after the stream ends


def page_texts() -> dict[str, dict[str, str]]:
    return {
        name: {lang: render(key, lang, **values) for lang in ("nl", "en")}
        for name, (key, values) in PAGE_TEXTS.items()
    }


@cache
def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def render_page(settings: ScreenSettings) -> str:
    """The page with the catalog's words and the watchdog's timing filled in."""
    texts = page_texts()
    embedded = json.dumps(texts, ensure_ascii=False).replace("</", "<\\/")
    return Template(_static("page.html")).substitute(
        title=_escape(texts["title"]["nl"]),
        offline_nl=_escape(texts["offline"]["nl"]),
        offline_en=_escape(texts["offline"]["en"]),
        texts=embedded,
        offline_after_ms=int(settings.offline_after_seconds * 1000),
    )


def _escape(text: str) -> str:
    return escape(text, quote=True)


class DoorScreen:
    """Serves the screen for one door; start() binds (and raises OSError if it cannot),
    stop() ends every stream with `down` and closes the port."""

    def __init__(self, settings: ScreenSettings, feed: ScreenFeed) -> None:
        if not is_loopback(settings.host):
            raise ValueError(f"the door screen binds a loopback address only, not {settings.host!r}")
        self.settings = settings
        self.feed = feed
        self._server: _ScreenHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._streams = 0
        self._streams_lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._server is not None, "the screen is not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def start(self) -> None:
        server = _ScreenHttpServer((self.settings.host, self.settings.port), _Handler)
        server.screen = self
        server.page = render_page(self.settings)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="door-screen", daemon=True
        )
        self._thread.start()
        log.info("door screen at %s", self.url)

    def start_or_log(self) -> bool:
        """Start; a port that cannot be bound is logged and False (the door goes on without)."""
        try:
            self.start()
        except OSError as exc:
            log.error("door screen not served on %s:%d: %s", self.settings.host, self.settings.port, exc)
            return False
        return True

    def stop(self) -> None:
        self.feed.close()
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(1.0)
        self._server = None

    def enter_stream(self) -> bool:
        with self._streams_lock:
            if self._streams >= self.settings.max_clients:
                return False
            self._streams += 1
            return True

    def leave_stream(self) -> None:
        with self._streams_lock:
            self._streams -= 1


class _ScreenHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    screen: DoorScreen
    page: str


class _Handler(BaseHTTPRequestHandler):
    server: _ScreenHttpServer
    server_version = "openplus-door-screen"
    sys_version = ""

    def do_GET(self) -> None:  # the name http.server calls
        if not self._host_allowed():
            self._send(HTTPStatus.MISDIRECTED_REQUEST, "text/plain; charset=utf-8", "unknown host\n")
            return
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self.server.page)
        elif path in STATIC:
            name, kind = STATIC[path]
            self._send(HTTPStatus.OK, kind, _static(name))
        elif path == "/state":
            state = self.server.screen.feed.current()
            self._send(HTTPStatus.OK, "application/json", state.to_json() if state is not None else "null")
        elif path == "/events":
            self._stream()
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", "not found\n")

    def _host_allowed(self) -> bool:
        """Only the names this machine uses for itself: a page elsewhere that points a name
        of its own at 127.0.0.1 (DNS rebinding) gets nothing."""
        port = self.server.server_address[1]
        host = (self.headers.get("Host") or "").lower()
        return host in {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}

    def _send(self, status: HTTPStatus, kind: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self) -> None:
        screen = self.server.screen
        if not screen.enter_stream():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", "too many screens\n")
            return
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self._write(f"retry: {RETRY_MS}\n\n")
            self._follow(screen.feed, screen.settings.heartbeat_seconds)
        except OSError:  # the browser went away (BrokenPipe, ConnectionReset, a timeout)
            pass
        finally:
            screen.leave_stream()

    def _follow(self, feed: ScreenFeed, heartbeat: float) -> None:
        version = 0
        while True:
            item = feed.wait_newer(version, heartbeat)
            if feed.closed:
                self._write("event: down\ndata: {}\n\n")
                return
            if item is None:
                self._write("event: beat\ndata: {}\n\n")
            else:
                version, data = item
                self._write(f"event: state\nid: {version}\ndata: {data}\n\n")

    def _write(self, text: str) -> None:
        self.wfile.write(text.encode("utf-8"))
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:  # http.server's signature
        log.debug("screen %s: " + format, self.address_string(), *args)
