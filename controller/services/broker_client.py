"""One way to open a paho MQTT client on a broker, for every part of the project that speaks
to one: the alerts' MQTT channel, the fleet publisher and command subscriber, the fleet console.

Why one: each of them needs the same three things right (paho's version-2 callbacks, the
broker user's credentials, TLS checked against the configured CA or the system's), and a fix
to one (a TLS option, a paho upgrade) must not miss the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from controller.services.alerts.channels import tls_context


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
