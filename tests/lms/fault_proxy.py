"""A TCP proxy between the SIP2 client and the real pysip2 server that misbehaves on demand.

Requests go to the server untouched (and are recorded); each reply frame from the server goes
through the current fault: damaged checksum, swallowed (silence), cut off with the connection
closed, replaced by garbage, or the request answered with a 96 before the server sees it.
Optionally the client side speaks TLS, so the client's TLS path meets a real handshake.
"""

from __future__ import annotations

import socket
import ssl
import threading

from drivers.sip2.codec import checksum

PASS = "pass"
BAD_CHECKSUM_ONCE = "bad_checksum_once"  # the next reply damaged, the resent one intact
BAD_CHECKSUM_ALWAYS = "bad_checksum_always"
SILENCE = "silence"  # replies swallowed, connection kept open
CLOSE_MID_REPLY = "close_mid_reply"  # half of the next reply, then the connection closed
GARBAGE = "garbage"  # the reply replaced by bytes that are no SIP2 frame
GARBLED_FRAME = "garbled_frame"  # a correctly checksummed frame with a nonsense body
ASK_RESEND_ONCE = "ask_resend_once"  # the next request answered with 96 instead of forwarded


_ONE_SHOT = {BAD_CHECKSUM_ONCE, CLOSE_MID_REPLY, ASK_RESEND_ONCE}
_REPLY_FAULTS = {BAD_CHECKSUM_ONCE, BAD_CHECKSUM_ALWAYS, SILENCE, CLOSE_MID_REPLY, GARBAGE, GARBLED_FRAME}


def _corrupt_checksum(frame: bytes) -> bytes:
    digits = frame[-5:-1]
    wrong = f"{(int(digits, 16) + 1) & 0xFFFF:04X}".encode()
    return frame[:-5] + wrong + b"\r"


def _checksummed(body: bytes) -> bytes:
    prefix = body + b"AZ"
    return prefix + checksum(prefix).encode() + b"\r"


class FaultProxy:
    """Listens on loopback; `fault` (one of the constants) applies to what passes from now on."""

    def __init__(self, upstream_port: int, *, tls: ssl.SSLContext | None = None) -> None:
        self.upstream_port = upstream_port
        self.fault = PASS
        self.requests: list[bytes] = []  # every frame the client sent, in order
        self._tls = tls
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    def set_fault(self, fault: str) -> None:
        with self._lock:
            self.fault = fault

    def requests_starting(self, prefix: bytes) -> int:
        with self._lock:
            return sum(1 for frame in self.requests if frame.startswith(prefix))

    def _take_fault(self, applies: set[str]) -> str:
        """The current fault if it applies to this direction, else PASS; a one-shot fault turns
        back into PASS as it is used."""
        with self._lock:
            fault = self.fault
            if fault not in applies:
                return PASS
            if fault in _ONE_SHOT:
                self.fault = PASS
            return fault

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                if self._tls is not None:
                    client = self._tls.wrap_socket(client, server_side=True)
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._client_to_server, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(upstream, client), daemon=True).start()

    def _frames(self, source: socket.socket):  # yields CR-terminated frames until EOF
        buffer = b""
        while True:
            try:
                data = source.recv(4096)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\r" in buffer:
                frame, buffer = buffer.split(b"\r", 1)
                yield frame + b"\r"

    def _client_to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        for frame in self._frames(client):
            with self._lock:
                self.requests.append(frame)
            try:
                if self._take_fault({ASK_RESEND_ONCE}) == ASK_RESEND_ONCE:
                    client.sendall(_checksummed(b"96"))
                else:
                    upstream.sendall(frame)
            except OSError:
                break
        self._close_pair(client, upstream)

    def _server_to_client(self, upstream: socket.socket, client: socket.socket) -> None:
        for frame in self._frames(upstream):
            fault = self._take_fault(_REPLY_FAULTS)
            try:
                if fault in (BAD_CHECKSUM_ONCE, BAD_CHECKSUM_ALWAYS):
                    client.sendall(_corrupt_checksum(frame))
                elif fault == SILENCE:
                    continue
                elif fault == CLOSE_MID_REPLY:
                    client.sendall(frame[: len(frame) // 2])
                    break
                elif fault == GARBAGE:
                    client.sendall(b"\xff\xfe\x01<html>502 Bad Gateway</html>\r")
                elif fault == GARBLED_FRAME:
                    client.sendall(_checksummed(b"24@@garbled@@AY" + frame[frame.rfind(b"AY") + 2 :][:1]))
                else:
                    client.sendall(frame)
            except OSError:
                break
        self._close_pair(client, upstream)

    def _close_pair(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        self._close_pair(*sockets)
