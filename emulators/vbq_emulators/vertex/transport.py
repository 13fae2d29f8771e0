"""The socket side of the Vertex emulator: a threading HTTP/1.1 server with keep-alive.

Built on :class:`http.server.ThreadingHTTPServer` (one thread per connection) because the
``create_then_drop`` fault needs the raw socket: after the job is created the connection is
reset (``SO_LINGER`` 0) without an answer. Request bodies may be sized or chunked.
"""

from __future__ import annotations

import json
import socket
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from vbq.logs import get_logger
from vbq_emulators.vertex.wire import api_error, error_body, wants_int_enums

__all__ = ["App", "EmulatorHTTPServer", "Request"]

_log = get_logger(__name__)


class Request:
    """One parsed HTTP request: method, decoded path, query, raw body."""

    def __init__(self, method: str, raw_path: str, body: bytes) -> None:
        parts = urlsplit(raw_path)
        self.method = method
        self.path = unquote(parts.path)
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.body = body
        self.int_enums = wants_int_enums(self.query)

    def param(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise api_error(400, "Invalid JSON payload received.") from None


class App(Protocol):
    """What the server calls for each request."""

    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        """``(status, JSON body, extra headers)``; status 0 resets the connection."""
        ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP/1.1 server that hands every request to ``app.handle``.

    Args:
        address: ``(host, port)``; port 0 picks a free one.
        app: answers requests: ``(status, JSON body, headers)``, status 0 = reset.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle plus delayed ACKs
        # add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        # Per-request lines would swamp the log at hundreds of requests a second.
        return

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "bad Content-Length or chunk size")
            self.close_connection = True
            return
        req = Request(self.command, self.path, body)
        try:
            status, payload, headers = self.server.app.handle(req)
            if status == 0:
                self._drop()
                return
        except Exception as exc:  # a bug must answer 500, not kill the connection thread
            _log.exception("emulator request failed", path=req.path)
            err = api_error(500, f"emulator error: {type(exc).__name__}: {exc}")
            status, payload, headers = 500, error_body(err), {}
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees a reset, not a clean EOF.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()
