"""Serving the app with uvicorn on a thread, so the door service owns the main thread and signals."""

from __future__ import annotations

import threading

import uvicorn
from fastapi import FastAPI


class ApiServerError(Exception):
    """The server did not come up (port in use, address not available)."""


class ApiServer:
    """uvicorn on its own thread; `stop()` asks it to finish and waits."""

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        proxy_headers: bool = False,
        forwarded_allow_ips: list[str] | None = None,
    ) -> None:
        """Proxy headers are off unless asked for (controller.cli.web.proxy_options): uvicorn's
        own default believes X-Forwarded-For from 127.0.0.1.

        uvicorn's lines go through the process's own logging (log_config=None: no handlers of
        its own), so they get the journal format and the card-number mask like every other
        line (controller.system.logging_setup); the access log stays off, since a query
        string may carry a card number."""
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips or [],
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        pause = threading.Event()  # uvicorn has no started-event: look every 50 ms, bounded
        for _ in range(int(timeout / 0.05)):
            if self._server.started or not self._thread.is_alive():
                break
            pause.wait(0.05)
        if not self._server.started:
            raise ApiServerError("the web server did not start (is the port already in use?)")

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
