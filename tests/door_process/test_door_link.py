"""The door link between the door process and the web process: the real server on a real
door (mock pins), the real client, and the API built on that client."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.config.settings import CameraSettings
from controller.domain.events import DoorAlarm, EventType
from controller.domain.messages import PROMPT_CARD
from controller.domain.modes import DoorMode
from controller.domain.schedule import Schedule
from controller.door.link import DoorUnavailable, link_path, snapshot_from_json, snapshot_to_json
from controller.door.link_client import DoorLinkClient
from controller.door.link_server import DoorLinkError, DoorLinkServer
from controller.door.ports import DoorSnapshot, Phase
from controller.http.services import ApiServices
from controller.services.footage import FootageService
from controller.services.passwords import Passwords
from controller.services.use_cases import user_admin
from controller.store.db import transaction
from controller.store.schedule import ScheduleStore, load_schedule
from tests.api.api_support import CHEAP_PASSWORDS
from tests.door_process.conftest import DEMO_CARD, WAIT


@pytest.fixture
def linked(make_local_door, tmp_path):
    """A running door on mock pins with its link server; the socket's path is long on purpose
    (beyond the 107 bytes a socket address may have), as pytest's folders often are."""
    door = make_local_door()
    folder = tmp_path / ("deep-" * 12)
    folder.mkdir()
    path = folder / "door.sock"
    assert len(str(path)) > 108

    def reload() -> Schedule:
        with closing(door.service.runtime.connection()) as conn:
            return load_schedule(conn)

    server = DoorLinkServer(path, door.service, reload, timeout=1.0, max_connections=4)
    server.start()
    yield door, server, DoorLinkClient(path)
    server.stop()


def raw_connection(path: Path) -> socket.socket:
    """A client that speaks the socket, not the protocol (the long path through /proc)."""
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)
    return sock


def reply_of(sock: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


def wait_until(predicate, timeout: float = WAIT) -> bool:
    """Polls something another thread writes (the event writer's database rows), bounded."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(0.05)
    return predicate()


def test_state_over_the_link_is_the_door_snapshot_and_the_loop_health(linked):
    door, server, client = linked
    snapshot, health = client.state()
    assert snapshot == door.service.snapshot()
    assert health.alive is True and 0 <= health.last_turn_age < 1.0
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert not [p for p in server.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_the_alarm_kind_crosses_the_wire_as_its_string_and_comes_back_typed():
    alarmed = DoorSnapshot(
        mode=DoorMode.OPENPLUS,
        phase=Phase.IDLE,
        relay_unlocked=False,
        door_open=True,
        alarm=DoorAlarm.HELD_OPEN,
        message=PROMPT_CARD,
        pin_keys=0,
        at=datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    )
    wire = json.loads(json.dumps(snapshot_to_json(alarmed)))
    assert wire["alarm"] == "held_open"
    assert snapshot_from_json(wire).alarm is DoorAlarm.HELD_OPEN
    with pytest.raises(ValueError):  # the client turns this into DoorUnavailable
        snapshot_from_json({**wire, "alarm": "on fire"})


def test_remote_unlock_over_the_link_is_audited_with_the_actor(linked):
    door, _server, client = linked
    client.remote_unlock("api:sec")
    assert door.wait_for(lambda s: s.relay_unlocked)
    assert door.sim.outputs()["relay"]
    runtime = door.service.runtime

    def recorded():
        with closing(runtime.connection()) as conn:
            return [e for e in runtime.events(conn).query(limit=50) if e.type is EventType.REMOTE_UNLOCK]

    assert wait_until(lambda: recorded())
    assert [e.actor for e in recorded()] == ["api:sec"]


def test_an_unlock_without_an_actor_is_refused(linked):
    _door, server, client = linked
    for actor in ("", " ", "x" * 201):
        with pytest.raises(DoorUnavailable, match="actor"):
            client.remote_unlock(actor)
    with raw_connection(server.path) as sock:
        sock.sendall(b'{"op": "unlock", "actor": 7}\n')
        assert reply_of(sock) == {"ok": False, "error": "an unlock needs an actor (1-200 characters)"}


def test_schedule_changed_makes_the_door_reload_the_schedule_from_the_database(linked):
    door, _server, client = linked
    assert door.wait_for(lambda s: s.mode.value == "openplus")  # set by hand at start
    runtime = door.service.runtime
    with closing(runtime.connection()) as conn, transaction(conn):
        ScheduleStore(conn).save(Schedule(), runtime.clock(), "test")  # no windows: closed
    client.schedule_changed(Schedule())
    assert door.wait_for(lambda s: s.mode.value == "closed")


def test_garbage_and_an_unfinished_line_do_not_block_other_clients(linked):
    door, server, client = linked
    with raw_connection(server.path) as garbage:
        garbage.sendall(b"\x00\xffnot json at all\n")
        assert reply_of(garbage) == {"ok": False, "error": "not JSON"}
    with raw_connection(server.path) as other:
        other.sendall(b'["op", "state"]\n')
        assert reply_of(other) == {"ok": False, "error": "no op"}
    with raw_connection(server.path) as long_line:
        long_line.sendall(b"{" + b" " * 5000)
        assert reply_of(long_line)["error"] == "request too long or not one line"
    slow = [raw_connection(server.path) for _ in range(3)]  # 3 of the 4 slots, never finishing
    for sock in slow:
        sock.sendall(b'{"op": "sta')
    snapshot, _health = client.state()  # the fourth slot: answered at once ...
    assert snapshot is not None
    for sock in slow:  # ... while the slow ones are still waiting for their lines
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(100)
    for sock in slow:  # each is dropped at the server's deadline (1 s here), answerless
        sock.settimeout(WAIT)
        assert sock.recv(100) == b""
        sock.close()
    client.remote_unlock("api:sec")  # and the door acts as ever
    assert door.wait_for(lambda s: s.relay_unlocked)


def test_more_clients_than_slots_are_turned_away_not_queued(linked):
    _door, server, client = linked
    slow = [raw_connection(server.path) for _ in range(4)]
    for sock in slow:
        sock.sendall(b"{")
    with raw_connection(server.path) as extra:
        assert reply_of(extra) == {"ok": False, "error": "busy"}
    assert server.turned_away >= 1
    for sock in slow:
        sock.close()
    deadline = time.monotonic() + WAIT
    while True:  # slots come back as the server's threads see their clients gone
        try:
            client.state()
            break
        except DoorUnavailable:
            assert time.monotonic() < deadline
            threading.Event().wait(0.05)


def test_an_unreachable_door_is_door_unavailable_quickly(tmp_path):
    client = DoorLinkClient(tmp_path / "nobody.sock")
    with pytest.raises(DoorUnavailable, match="not reachable"):
        client.snapshot()
    # A socket file nobody serves (a door that died): refused at once, not after the timeout.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bind_long(dead, tmp_path / "dead.sock")
    dead.close()
    with pytest.raises(DoorUnavailable, match="nobody listening"):  # refused, not timed out
        DoorLinkClient(tmp_path / "dead.sock", timeout=WAIT).remote_unlock("api:sec")


def test_a_silent_door_times_out_within_the_client_timeout(tmp_path):
    path = link_path(tmp_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with closing(listener):
        bind_long(listener, path)
        listener.listen(1)  # accepts (the kernel does), never answers
        started = time.monotonic()
        with pytest.raises(DoorUnavailable, match="no answer in time"):
            DoorLinkClient(path, timeout=0.3).snapshot()
        took = time.monotonic() - started
        assert 0.3 <= took < WAIT  # it waited its timeout; WAIT only guards against a hang


def bind_long(sock: socket.socket, path: Path) -> None:
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        sock.bind(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


def test_a_stale_socket_is_replaced_and_a_live_one_or_a_file_is_refused(make_local_door, tmp_path):
    door = make_local_door()
    path = tmp_path / "door.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bind_long(stale, path)
    stale.close()  # left behind by a door that was killed
    first = DoorLinkServer(path, door.service, Schedule)
    first.start()
    try:
        assert DoorLinkClient(path).snapshot() is not None
        with pytest.raises(DoorLinkError, match="another door process is listening"):
            DoorLinkServer(path, door.service, Schedule).start()
    finally:
        first.stop()
    assert not path.exists()  # removed on stop
    path.write_text("not a socket")
    with pytest.raises(DoorLinkError, match="not a socket"):
        DoorLinkServer(path, door.service, Schedule).start()


def test_link_path_is_in_the_data_dir_unless_the_environment_says_otherwise(tmp_path):
    assert link_path(tmp_path, env={}) == tmp_path / "door.sock"
    assert link_path(tmp_path, env={"OPENPLUS_DOOR_LINK": "/run/x.sock"}) == Path("/run/x.sock")


# --- the API on the link ----------------------------------------------------------------------
def api_on(runtime, client: DoorLinkClient) -> TestClient:
    passwords = Passwords(CHEAP_PASSWORDS)
    with closing(runtime.connection()) as conn:
        user_admin(runtime, conn, passwords).create("sec", "correct horse battery", ["security"], "test")
    footage = FootageService(
        CameraSettings(), runtime.settings.data_dir / "footage", runtime.connection, "entrance", runtime.clock
    )
    app = create_app(
        ApiServices(
            runtime=runtime,
            door=client,
            passwords=passwords,
            schedule_changed=client.schedule_changed,
            footage=footage,
        )
    )
    return TestClient(app)


def sign_in(api: TestClient) -> dict[str, str]:
    token = api.post("/api/v1/auth/token", json={"username": "sec", "password": "correct horse battery"})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_api_with_the_door_unreachable_503_on_the_door_and_health_down(runtime, tmp_path):
    api = api_on(runtime, DoorLinkClient(tmp_path / "door.sock"))
    auth = sign_in(api)
    door = api.get("/api/v1/door", headers=auth)
    assert door.status_code == 503 and "not reachable" in door.json()["detail"]
    unlock = api.post("/api/v1/door/unlock", headers=auth)
    assert unlock.status_code == 503
    health = api.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["status"] == "down"
    assert "not reachable" in health.json()["reason"]
    assert health.json()["door_last_turn_seconds"] is None


def test_api_through_the_link_to_a_running_door(linked):
    door, _server, client = linked
    api = api_on(door.service.runtime, client)
    auth = sign_in(api)
    state = api.get("/api/v1/door", headers=auth).json()
    assert state["mode"] == "openplus" and state["relay_unlocked"] is False
    health = api.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["door_last_turn_seconds"] < 1.0
    assert api.post("/api/v1/door/unlock", headers=auth).status_code == 202
    assert door.wait_for(lambda s: s.relay_unlocked)
    assert api.get("/api/v1/door", headers=auth).json()["relay_unlocked"] is True


def test_a_schedule_saved_while_the_door_is_down_is_still_saved(runtime, tmp_path):
    api = api_on(runtime, DoorLinkClient(tmp_path / "door.sock"))
    with closing(runtime.connection()) as conn:
        user_admin(runtime, conn, Passwords(CHEAP_PASSWORDS)).create(
            "manny", "correct horse battery", ["manager"], "test"
        )
    token = api.post("/api/v1/auth/token", json={"username": "manny", "password": "correct horse battery"})
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    body = {"weekly": {"monday": [{"start": "09:00", "end": "17:00", "kind": "staffed"}]}}
    saved = api.put("/api/v1/schedule", headers=auth, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["applied"] is False  # the door loads it from the database at start
    with closing(runtime.connection()) as conn:
        assert len(load_schedule(conn).weekly.monday) == 1


def test_the_card_reader_path_is_not_slowed_by_a_busy_link(linked):
    """Twelve clients hammering `state` while a member enters: the grant comes as ever."""
    door, server, client = linked
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                client.state()
            except DoorUnavailable:
                pass

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(12)]
    for thread in threads:
        thread.start()
    try:
        door.sim.present_card(DEMO_CARD)
        assert door.wait_for(lambda s: s.phase.value == "awaiting_pin")
        door.sim.press_keys("1234#")
        assert door.wait_for(lambda s: s.relay_unlocked)
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)


class CountingDoor:
    """Stands in for the door: counts the schedules it is handed."""

    def __init__(self) -> None:
        self.applied: list[Schedule] = []

    def schedule_changed(self, schedule: Schedule) -> None:
        self.applied.append(schedule)


def test_schedule_changes_arriving_during_a_reload_share_the_next_one(tmp_path) -> None:
    """Ten uploads while the door reads the database: two reloads, and every request is
    answered only after a reload that read the database after it asked."""
    door, loading, release = CountingDoor(), threading.Event(), threading.Event()
    loads: list[int] = []

    def load() -> Schedule:
        loads.append(len(loads))
        loading.set()
        assert release.wait(5)
        return Schedule()

    server = DoorLinkServer(tmp_path / "link", door, load, reload_spacing=0.0)
    answers: list[dict] = []
    first = threading.Thread(target=lambda: answers.append(server._reload_schedule()))
    first.start()
    assert loading.wait(5)  # the first reload is reading; nine more arrive
    rest = [threading.Thread(target=lambda: answers.append(server._reload_schedule())) for _ in range(9)]
    for thread in rest:
        thread.start()
    deadline = time.monotonic() + 5  # all nine counted (they then wait on the reload lock)
    while server._asked < 10 and time.monotonic() < deadline:
        threading.Event().wait(0.001)
    assert server._asked == 10
    release.set()
    for thread in [first, *rest]:
        thread.join(5)
    assert answers == [{"ok": True}] * 10
    assert len(loads) == 2 and server.reloads == 2 and len(door.applied) == 2


def test_reloads_start_at_least_the_spacing_apart(tmp_path) -> None:
    """A flood of uploads costs the door a few reloads a second: the next one waits out the
    spacing (on the connection's thread, never the door's)."""
    now = [100.0]
    paused: list[float] = []

    def pause(seconds: float) -> None:
        paused.append(round(seconds, 3))
        now[0] += seconds

    door = CountingDoor()
    server = DoorLinkServer(
        tmp_path / "link", door, Schedule, reload_spacing=0.25, monotonic=lambda: now[0], pause=pause
    )
    server._reload_schedule()
    now[0] += 0.1
    server._reload_schedule()
    now[0] += 1.0
    server._reload_schedule()
    assert paused == [0.15] and server.reloads == 3


def test_a_reload_waits_for_a_moment_between_members_before_it_reads(tmp_path) -> None:
    """The read and recompute share the GIL with the door loop: they start once the door has
    no member in hand (a bounded wait, BranchService.between_members), then read the newest."""
    steps: list[str] = []
    door = CountingDoor()

    def load() -> Schedule:
        steps.append("read")
        return Schedule()

    server = DoorLinkServer(
        tmp_path / "link",
        door,
        load,
        reload_spacing=0.0,
        between_members=lambda: steps.append("between members"),
    )
    assert server._reload_schedule() == {"ok": True}
    assert steps == ["between members", "read"]
    assert len(door.applied) == 1
