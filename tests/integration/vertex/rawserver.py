"""A tiny raw-socket HTTP server for failures a well-behaved server never produces.

It is a real server on a loopback port (not a mock): it reads each request completely (headers
and ``Content-Length`` body), records it, then runs a ``behaviour`` that may answer, hang, close
or reset the connection. Used for the wire paths the Vertex emulator cannot produce.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Returns False to end the connection (the server then closes it).
Behaviour = Callable[[socket.socket, "RawRequest"], bool | None]


@dataclass
class RawRequest:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int


def _read_request(conn: socket.socket, buffer: bytearray) -> RawRequest | None:
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    buffer[:] = body[length:]
    return RawRequest(method, path, headers, bytes(body[:length]), conn.getpeername()[1])


def respond(status: int, body: bytes, *, content_type: str = "application/json") -> Behaviour:
    """Answer every request with ``status`` and ``body`` (keep-alive)."""

    def behaviour(conn: socket.socket, request: RawRequest) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        conn.sendall(head.encode() + body)

    return behaviour


def hang(conn: socket.socket, request: RawRequest) -> None:
    """Never answer (the client's read timeout fires)."""
    time.sleep(5)


def close_silently(conn: socket.socket, request: RawRequest) -> None:
    """Close the connection without a byte of answer (FIN)."""
    conn.shutdown(socket.SHUT_RDWR)


def reset(conn: socket.socket, request: RawRequest) -> bool:
    """Abort the connection (RST) without an answer."""
    # Linger 0: close() sends RST instead of FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def partial_body(conn: socket.socket, request: RawRequest) -> None:
    """Send the status line, headers and 10 of 100 body bytes, then stall."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    conn.sendall(b'{"name": "')
    time.sleep(5)


class RawServer:
    """Serve ``behaviour`` on a free loopback port in background threads."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[RawRequest] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RawServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        try:
            while not self._stop.is_set():
                request = _read_request(conn, buffer)
                if request is None:
                    return
                self.requests.append(request)
                if self.behaviour(conn, request) is False:
                    return
        except OSError:
            return
        finally:
            conn.close()
