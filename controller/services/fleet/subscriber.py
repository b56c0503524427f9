"""The fleet's command subscriber: the console's signed commands to this branch, one at a time.

Its own thread and its own MQTT client, next to the publisher (one client each: the
publisher's session is clean, this one's persistent). The client id is fixed
(`openplus-door-<branch>-commands`) and the session kept (clean_session False), so the broker
queues the commands sent while this controller is off, a day or a week, and delivers them in
order when it connects again.

A command is acknowledged to the broker (PUBACK, paho's manual ack) only after
apply_handler.CommandHandler committed what became of it; a database error leaves it unacked
and the connection is dropped, so the broker delivers it again on the next connection. A
command delivered twice is refused the second time as replayed: versions are in the database.

The door thread never waits on any of this: a command reaches the door as the pages' changes
do (the schedule handed to the switcher, an unlock queued on the door loop).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.config.fleet import FleetSettings
from controller.domain.clock import Clock
from controller.domain.schedule import Schedule
from controller.services.broker_client import broker_client
from controller.services.fleet.apply import DoorHooks
from controller.services.fleet.apply_handler import CommandHandler, Outcome
from controller.services.fleet.commands import KeyFileError, load_public_key
from controller.services.fleet.messages import DoorState, Topics
from controller.services.fleet.publisher import FleetPublisher, open_fleet
from controller.services.lms_access import LmsGate
from controller.services.runtime import Runtime
from controller.store.db import Database

log = logging.getLogger(__name__)

QOS = 1
LOOP_SECONDS = 0.1


def command_key(path: Path | None) -> Ed25519PublicKey | None:
    """The fleet's public key, or None (every command is then refused, with that reason): a
    bad key file must cost the fleet's commands, never the door."""
    if path is None:
        log.warning("fleet: no [fleet] command_key_file; every command will be refused")
        return None
    try:
        return load_public_key(path)
    except KeyFileError as exc:
        log.error("fleet: %s; every command will be refused", exc)
        return None


class FleetSubscriber:
    """Started and stopped by the door process; `on_handled` is told after each command
    (the publisher's wake: the ack is waiting in the outbox)."""

    def __init__(
        self,
        db: Database,
        settings: FleetSettings,
        handler: CommandHandler,
        topics: Topics,
        *,
        on_handled: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._handler = handler
        self.topics = topics
        self._on_handled = on_handled
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self.connected = threading.Event()  # set while subscribed (tests, health)
        self.handled: deque[Outcome] = deque(maxlen=100)  # the newest, last (tests, a look)

    @property
    def client_id(self) -> str:
        return f"openplus-door-{self.topics.branch}-commands"

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="fleet-commands", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        client = self._client
        if client is not None:
            client.disconnect()  # a clean DISCONNECT: the session (and its queue) stays
        if self._thread is not None:
            self._thread.join(timeout)

    def _client_for(self) -> mqtt.Client:
        s = self._settings
        client = broker_client(s, self.client_id, clean_session=False, manual_ack=True)
        client.max_inflight_messages_set(1)  # one command at a time, in order
        client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(s.reconnect_max_seconds)))
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *args: self.connected.clear()
        client.on_subscribe = lambda *args: self.connected.set()
        return client

    def _run(self) -> None:
        conn = self._db.connect()
        try:
            self._handler.restore(conn)
        except Exception:
            log.exception("fleet: the stored rules could not be restored")
        try:
            while not self._stopping.is_set():
                client = self._client_for()
                client.on_message = lambda c, u, message: self._on_message(c, conn, message)
                self._client = client
                try:
                    client.connect(self._settings.host, self._settings.port, self._settings.keepalive_seconds)
                except (OSError, ValueError) as exc:
                    log.warning("fleet commands: broker not reached (%s)", exc)
                    self._stopping.wait(self._settings.reconnect_max_seconds)
                    continue
                client.loop_forever(retry_first_connection=True)  # reconnects until stop()
        finally:
            conn.close()
            self.connected.clear()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("fleet commands: broker refused the connection (%s)", reason)
            return
        client.subscribe(self.topics.commands, qos=QOS)

    def _on_message(self, client: mqtt.Client, conn: sqlite3.Connection, message: mqtt.MQTTMessage) -> None:
        try:
            outcome = self._handler.handle(conn, message.payload)
        except Exception:  # the database: nothing was done; delivered again on reconnect
            log.exception("fleet command not handled; the broker will deliver it again")
            sock = client.socket()
            if sock is not None:
                sock.close()
            return
        client.ack(message.mid, message.qos)
        self.handled.append(outcome)
        if self._on_handled is not None:
            try:
                self._on_handled()
            except Exception:
                log.exception("fleet: could not wake the publisher")


class FleetDoor(Protocol):
    """What the fleet needs of the door process's BranchService (the door layer is above this
    one, so it is described, not imported): its snapshot, its LMS link, and the calls the
    pages' changes make too."""

    lms: LmsGate | None

    def snapshot(self) -> DoorState | None: ...
    def schedule_changed(self, schedule: Schedule) -> None: ...
    def between_members(self) -> object: ...
    def remote_unlock(self, actor: str) -> None: ...


def door_hooks(door: FleetDoor) -> DoorHooks:
    lms = door.lms

    def schedule_changed(schedule: Schedule) -> None:
        door.between_members()  # as the door link: the recompute waits for a moment between members
        door.schedule_changed(schedule)

    return DoorHooks(
        schedule_changed=schedule_changed,
        unlock=door.remote_unlock,
        rules_changed=lms.decider.replace_rules if lms is not None else None,
    )


def open_fleet_commands(
    runtime: Runtime,
    settings: FleetSettings,
    clock: Clock,
    branch: str,
    hooks: DoorHooks,
    on_handled: Callable[[], None] | None = None,
) -> FleetSubscriber:
    """A command subscriber for `branch` (the publisher's branch id), applying through `hooks`,
    with the key read (and a missing one warned about) from [fleet] command_key_file."""
    key = command_key(settings.command_key_file)
    return fleet_commands(runtime, settings, clock, branch, hooks, key, on_handled)


def fleet_commands(
    runtime: Runtime,
    settings: FleetSettings,
    clock: Clock,
    branch: str,
    hooks: DoorHooks,
    key: Ed25519PublicKey | None,
    on_handled: Callable[[], None] | None = None,
) -> FleetSubscriber:
    """open_fleet_commands with the key already read: many subscribers sharing one setting
    (the simulated fleet) read it, and warn about a missing one, once instead of once each."""
    topics = Topics(settings.topic_prefix, branch)
    handler = CommandHandler(runtime, topics, key, hooks, clock)
    return FleetSubscriber(runtime.db, settings, handler, topics, on_handled=on_handled)


class BranchFleet:
    """The door process's part in the fleet: the publisher and the command subscriber,
    started and stopped together (the commands first: their acks go out through the publisher)."""

    def __init__(self, publisher: FleetPublisher, commands: FleetSubscriber) -> None:
        self.publisher = publisher
        self.commands = commands

    def start(self) -> None:
        self.publisher.start()
        self.commands.start()

    def stop(self, timeout: float) -> None:
        self.commands.stop(timeout=min(timeout, 1.0))  # its session, and what is queued, stays
        self.publisher.stop(timeout)

    def wake(self) -> None:
        self.publisher.wake()


def open_branch_fleet(
    runtime: Runtime, settings: FleetSettings, clock: Clock, door_name: str, door: FleetDoor
) -> BranchFleet | None:
    """The fleet's publisher and subscriber when [fleet] is enabled, else None (branch id:
    [fleet] branch, else the door's name)."""

    def lms_contact() -> datetime | None:
        return door.lms.link.last_contact if door.lms is not None else None

    publisher = open_fleet(runtime, settings, clock, door_name, state=door.snapshot, lms_contact=lms_contact)
    if publisher is None:
        return None
    commands = open_fleet_commands(
        runtime, settings, clock, publisher.topics.branch, door_hooks(door), publisher.wake
    )
    return BranchFleet(publisher, commands)
