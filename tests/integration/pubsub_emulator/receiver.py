"""A real local HTTP endpoint for push tests: records every POST, answers what it is told."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class PushReceiver:
    """Serve on a free loopback port; ``answer(request) -> status`` decides each response."""

    def __init__(self, answer: Callable[[Received], int] | None = None) -> None:
        self.requests: list[Received] = []
        self.changed = threading.Condition()
        self.answer = answer or (lambda request: 204)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.monotonic(),
                )
                with outer.changed:
                    outer.requests.append(request)
                    outer.changed.notify_all()
                status = outer.answer(request)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float) -> bool:
        """Block until ``predicate(requests)`` holds or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while not predicate(self.requests):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True

    def snapshot(self) -> list[Received]:
        """The requests so far."""
        with self.changed:
            return list(self.requests)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
