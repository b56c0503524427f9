"""One way to open a paho MQTT client on a broker, for every part of the project that speaks
to one: the alerts' MQTT channel, the fleet publisher and command subscriber, the fleet console.

Why one: each of them needs the same three things right (paho's version-2 callbacks, the
broker user's credentials, TLS checked against the configured CA or the system's), and a fix
to one (a TLS option, a paho upgrade) must not miss the others.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from controller.services.alerts.channels import tls_context

FIRST_RETRY_SECONDS = 0.1


class BrokerLogin(Protocol):
    """The settings of a broker connection this factory reads (a config section has them)."""

    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def tls(self) -> bool: ...
    @property
    def ca_file(self) -> Path | None: ...


def broker_client(
    login: BrokerLogin, client_id: str, *, clean_session: bool = True, manual_ack: bool = False
) -> mqtt.Client:
    """A client with `login`'s credentials and TLS set, not yet connected; callbacks are the
    caller's. clean_session False: the broker keeps the subscriptions and queues them."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session, manual_ack=manual_ack
    )
    if login.username:
        client.username_pw_set(login.username, login.password)
    if login.tls:
        client.tls_set_context(tls_context(login.ca_file))
    return client


class Reconnect:
    """When a thread that drives its own client (the fleet publisher, the fleet console's link)
    tries the broker again: FIRST_RETRY_SECONDS after the first failure, the wait doubling on
    each failure up to `max_seconds`, and back to the first once a connection is accepted. On
    monotonic time: a step of the wall clock neither holds a retry off nor hurries it."""

    def __init__(self, max_seconds: float) -> None:
        self._max_seconds = max_seconds
        self._at = 0.0  # the first try at once
        self._wait = FIRST_RETRY_SECONDS

    def due(self) -> bool:
        return time.monotonic() >= self._at

    def seconds_left(self) -> float:
        return max(0.0, self._at - time.monotonic())

    def later(self) -> float:
        """A try failed or a connection was lost: the next try is due after the current wait,
        returned (for the log); the one after that waits twice as long."""
        wait = self._wait
        self._at = time.monotonic() + wait
        self._wait = min(wait * 2, self._max_seconds)
        return wait

    def connected(self) -> None:
        self._wait = FIRST_RETRY_SECONDS


def drop_connection(client: mqtt.Client) -> None:
    """Close a client's socket with no DISCONNECT and without its on_disconnect: the connection
    is already gone or refused, and the owner logs why itself (the callback would say it again)."""
    client.on_disconnect = None
    sock = client.socket()
    if sock is not None:
        sock.close()
