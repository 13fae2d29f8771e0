"""A tiny HTTP side door for tests and operators.

``GET /_emulator/stats`` and ``/_emulator/leases``: gRPC cannot be asked "how many messages are
outstanding on that stream", so the counters tests assert on are served here as JSON.
``GET /_emulator/oauth2/v1/certs`` (``{key id: PEM certificate}``) and
``/_emulator/oauth2/v3/certs`` (JWKS): the keys that verify the OIDC tokens of authenticated
push subscriptions, in the two formats Google serves at
``https://www.googleapis.com/oauth2/v{1,3}/certs``. ``GET /healthz``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vbq_emulators.pubsub.broker import Broker

__all__ = ["AdminServer"]


class AdminServer:
    """Serve the broker's counters over HTTP on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, broker: Broker, *, host: str, port: int) -> None:
        broker_ref = broker

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/_emulator/stats"):
                    self._send(200, broker_ref.stats())
                elif self.path.startswith("/_emulator/leases"):
                    self._send(200, broker_ref.leases())
                elif self.path.startswith("/_emulator/oauth2/v1/certs"):
                    self._send(200, broker_ref.signer.certs())
                elif self.path.startswith("/_emulator/oauth2/v3/certs"):
                    self._send(200, broker_ref.signer.jwks())
                elif self.path.startswith("/healthz"):
                    self._send(200, {"ok": True})
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: Any) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per poll would drown the emulator's log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pubsub-admin", daemon=True
        )

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start serving in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
