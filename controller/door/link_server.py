"""The door side of the door link: the server on its own thread of the door process.

Split from controller.door.link (what both ends share) so that the web process, which only
needs controller.door.link_client, never loads the server.

The door is never at the mercy of a client: each connection is served on its own short-lived
thread (at most MAX_CONNECTIONS at once; more are turned away), with a deadline for the whole
request, a bounded line length, and only the peer's own user (or root) admitted. A request
touches the door only by reading its last snapshot or putting an input on the door loop's
queue; the schedule reload reads the database on the connection's thread, never on the loop.

The socket file is made with mode 0600 (bound under a temporary name, chmod-ed, then renamed
into place, so it is never reachable with looser permissions).
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from controller.domain.outputs import UnknownOutput
from controller.domain.schedule import Schedule
from controller.door.link import (
    MAX_REQUEST_BYTES,
    LoopHealth,
    json_line,
    reachable,
    read_line,
    snapshot_to_json,
)
from controller.door.ports import DoorSnapshot

log = logging.getLogger(__name__)

MAX_ACTOR_CHARS = 200
MAX_CONNECTIONS = 16
SERVER_TIMEOUT = 1.0  # a whole request must arrive within this
# Schedule reloads start at least this far apart; requests that arrive meanwhile share the
# next one. A flood of uploads (a script, an attacker with a manager's token) then costs the
# door process at most a few reloads a second, however fast the web side stores them.
RELOAD_SPACING_SECONDS = 0.25


def loop_health(loop: object) -> LoopHealth:
    """Read the door loop's `is_running()` and `last_turn` (time.monotonic()), if it has them."""
    is_running = getattr(loop, "is_running", None)
    alive = bool(is_running()) if callable(is_running) else None
    last_turn = getattr(loop, "last_turn", None)
    age = (
        max(0.0, time.monotonic() - last_turn)
        if isinstance(last_turn, (int, float)) and not isinstance(last_turn, bool)
        else None
    )
    return LoopHealth(alive=alive, last_turn_age=age)


# --- the door side -------------------------------------------------------------------------------
class LinkedDoor(Protocol):
    """What the server needs from the running door (BranchService)."""

    @property
    def loop(self) -> object: ...  # read-only, so BranchService's DoorLoop attribute fits

    def snapshot(self) -> DoorSnapshot | None: ...

    def remote_unlock(self, actor: str) -> None: ...

    def schedule_changed(self, schedule: Schedule) -> None: ...

    def metrics_report(self) -> dict[str, Any]: ...  # DoorMetrics.report: plain JSON


class DoorLinkError(Exception):
    """The link's socket could not be set up (the door process says so and stops)."""


class DoorLinkServer:
    """Serves the door link on a thread of the door process; `stop()` never waits on clients."""

    def __init__(
        self,
        path: Path,
        door: LinkedDoor,
        load_schedule: Callable[[], Schedule],
        *,
        timeout: float = SERVER_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        reload_spacing: float = RELOAD_SPACING_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        pause: Callable[[float], object] | None = None,
        between_members: Callable[[], object] | None = None,
    ) -> None:
        """`between_members()` returns once the door has no member in hand, or after a bounded
        wait (BranchService.between_members): a reload's read and recompute share the GIL with
        the door loop, so they wait for that moment; without it reloads start at once."""
        self.path = Path(path)
        self._door = door
        self._load_schedule = load_schedule
        self._between_members = between_members
        self._timeout = timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._reload_lock = threading.Lock()
        self._asked_lock = threading.Lock()
        self._asked = 0  # schedule_changed requests received
        self._applied = 0  # of those, how many the last reload covered
        self._last_reload: float | None = None
        self._reload_spacing = reload_spacing
        self._mono = monotonic
        self.reloads = 0
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pause = pause if pause is not None else self._stopping.wait  # stop() cuts it short
        self.turned_away = 0

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._listener = self._bind()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._accept_forever, name="door-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and remove the socket file; connections still open finish or time
        out on their own (daemon threads, each bounded by the request deadline)."""
        self._stopping.set()
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        self._unlink_own()

    def _bind(self) -> socket.socket:
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._clear_stale(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            temporary = f".{path.name}.{os.getpid()}.tmp"
            with reachable(path) as (folder, dir_fd):
                try:
                    os.unlink(temporary if dir_fd is not None else path.parent / temporary, dir_fd=dir_fd)
                except FileNotFoundError:
                    pass
                sock.bind(f"{folder}/{temporary}")
                os.chmod(temporary if dir_fd is not None else path.parent / temporary, 0o600, dir_fd=dir_fd)
                sock.listen(MAX_CONNECTIONS)
                if dir_fd is None:
                    os.rename(path.parent / temporary, path)
                else:
                    os.rename(temporary, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            self._inode = os.stat(path).st_ino
        except OSError as exc:
            raise DoorLinkError(f"door link socket {path}: {exc}") from None
        sock.setblocking(False)
        return sock

    @staticmethod
    def _clear_stale(path: Path) -> None:
        """A socket left by a door that died is removed; a live one means another door runs."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise DoorLinkError(f"door link socket {path}: exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        probe.settimeout(0.5)
        try:
            with reachable(path) as (folder, _fd):
                probe.connect(f"{folder}/{path.name}")
        except OSError:
            path.unlink(missing_ok=True)  # nobody listens: left over from a door that died
            return
        finally:
            probe.close()
        raise DoorLinkError(f"door link socket {path}: another door process is listening")

    def _unlink_own(self) -> None:
        try:
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except OSError:
            pass
        self._inode = None

    # --- accepting -----------------------------------------------------------------------------
    def _accept_forever(self) -> None:
        listener = self._listener
        assert listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fd == self._wake_r or self._stopping.is_set():
                        return
                    self._accept(listener)

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("door link: accept failed: %s", exc)
            return
        if not self._slots.acquire(blocking=False):
            self.turned_away += 1
            try:
                conn.setblocking(False)
                conn.send(json_line({"ok": False, "error": "busy"}))
            except OSError:
                pass
            conn.close()
            return
        try:
            threading.Thread(target=self._serve, args=(conn,), name="door-link-client", daemon=True).start()
        except RuntimeError:  # no thread to be had: turn the client away, keep accepting
            self._slots.release()
            conn.close()

    def _serve(self, conn: socket.socket) -> None:
        try:
            deadline = time.monotonic() + self._timeout
            if not _peer_allowed(conn):
                reply: dict[str, Any] = {"ok": False, "error": "not allowed"}
            else:
                request = read_line(conn, MAX_REQUEST_BYTES, deadline)
                reply = (
                    self._answer(request)
                    if request is not None
                    else {"ok": False, "error": "request too long or not one line"}
                )
            conn.settimeout(self._timeout)
            conn.sendall(json_line(reply))
        except (OSError, ValueError):  # timeouts, resets, a client gone: nothing to tell it
            pass
        finally:
            conn.close()
            self._slots.release()

    # --- answering -----------------------------------------------------------------------------
    def _answer(self, raw: bytes) -> dict[str, Any]:
        try:
            request = json.loads(raw)
        except ValueError:
            return {"ok": False, "error": "not JSON"}
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": "no op"}
        op = request["op"]
        try:
            if op == "state":
                return self._state()
            if op == "unlock":
                return self._unlock(request.get("actor"))
            if op == "schedule_changed":
                return self._reload_schedule()
            if op == "metrics":
                return {"ok": True, "metrics": self._door.metrics_report()}
            if op == "outputs":
                runner = getattr(self._door, "outputs", None)  # BranchService's OutputsRunner
                return {
                    "ok": True,
                    "outputs": [status.to_json() for status in runner.statuses()]
                    if runner is not None
                    else [],
                }
            if op == "set_output":
                return self._set_output(request)
        except Exception:
            log.exception("door link: %s failed", op)
            return {"ok": False, "error": f"{op} failed in the door process (see its log)"}
        return {"ok": False, "error": "unknown op"}

    def _state(self) -> dict[str, Any]:
        snapshot = self._door.snapshot()
        health = loop_health(self._door.loop)
        return {
            "ok": True,
            "door": snapshot_to_json(snapshot) if snapshot is not None else None,
            "loop": {"alive": health.alive, "last_turn_age": health.last_turn_age},
        }

    def _unlock(self, actor: object) -> dict[str, Any]:
        if not isinstance(actor, str) or not actor.strip() or len(actor) > MAX_ACTOR_CHARS:
            return {"ok": False, "error": "an unlock needs an actor (1-200 characters)"}
        if loop_health(self._door.loop).alive is False:
            return {"ok": False, "error": "the door loop is not running"}
        self._door.remote_unlock(actor)
        return {"ok": True}

    def _set_output(self, request: dict[str, Any]) -> dict[str, Any]:
        """A manager's switch of a building output; the web side has audited who asked."""
        name, state, actor = request.get("name"), request.get("state"), request.get("actor")
        runner = getattr(self._door, "outputs", None)
        if (
            not isinstance(name, str)
            or state not in ("on", "off", "auto")
            or not isinstance(actor, str)
            or not 0 < len(actor.strip()) <= MAX_ACTOR_CHARS
        ):
            return {"ok": False, "error": "set_output needs a name, a state (on, off, auto) and an actor"}
        if runner is None:
            return {"ok": False, "error": "this door has no building outputs"}
        try:
            return {"ok": True, "output": runner.set_manual(name, state, actor).to_json()}
        except UnknownOutput as exc:
            return {"ok": False, "error": str(exc)}

    def _reload_schedule(self) -> dict[str, Any]:
        """Apply the stored schedule; answers once a reload that began after this request
        arrived has been applied (it may be another request's)."""
        with self._asked_lock:
            self._asked += 1
            ticket = self._asked
        with self._reload_lock:  # one at a time, so the last one applies the newest schedule
            if self._applied >= ticket:
                return {"ok": True}  # a reload that read the database after we asked covered us
            if self._last_reload is not None:
                delay = self._last_reload + self._reload_spacing - self._mono()
                if delay > 0:
                    self._pause(delay)
            if self._between_members is not None:
                self._between_members()
            with self._asked_lock:
                covered = self._asked  # everything asked before this read of the database
            self._door.schedule_changed(self._load_schedule())
            self._applied, self._last_reload = covered, self._mono()
            self.reloads += 1
        return {"ok": True}


_UCRED = struct.Struct("3i")  # pid, uid, gid


def _peer_allowed(conn: socket.socket) -> bool:
    """Only our own user or root may talk to the door (the 0600 file says so too)."""
    try:
        _pid, uid, _gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    except (OSError, AttributeError, struct.error):
        return False
    return uid in (os.getuid(), 0)
