"""``vbq subscribe --push``: an HTTP endpoint that Pub/Sub push subscriptions deliver to.

Each ``POST`` carries one message (see :mod:`vbq.subscribers.push_request`). The request is
authenticated when an audience is configured, then handed to the same
:class:`~vbq.subscribers.processing.EventProcessor` streaming pull uses, so the guarantees are
the same: a handler runs once per ``event_id`` in the group (the Redis inbox), a malformed
message is dead-lettered and acknowledged, a failing handler is retried by Pub/Sub. Answers:

- ``204``: acknowledged (handled now or before, ignored, or dead-lettered);
- ``500``: a handler failed, or Redis / the dead-letter topic did: Pub/Sub redelivers with the
  subscription's retry policy and dead-letters after its maximum attempts;
- ``503``: shutting down, or ``threads`` handlers already run here (Pub/Sub backs off);
- ``400`` (not a push request), ``401``/``403`` (token), ``413`` (over 16 MiB).

``GET /healthz`` answers 200 while serving (Cloud Run's probes). SIGTERM: stop accepting, let
running handlers finish within ``Settings.shutdown_grace_s``; a handler still running then is
abandoned (its claim expires and a redelivery runs it), as with streaming pull.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vbq.errors import PushRequestError
from vbq.logs import get_logger
from vbq.subscribers.processing import EventProcessor
from vbq.subscribers.push_request import PushedMessage, TokenVerifier, parse_push

__all__ = ["MAX_BODY_BYTES", "PushServer", "serve_push"]

_log = get_logger("vbq.subscriber.push")

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body (a 10 MB message is ~13.4 MB as base64 in the envelope)."""
SLOT_WAIT_S = 1.0
"""How long a request waits for a free handler thread before answering 503, seconds."""


class PushServer:
    """Serves Pub/Sub push requests on ``host:port`` (port 0 picks a free one).

    Args:
        processor: runs the handlers and acks/nacks each message.
        host: interface to bind.
        port: TCP port.
        verifier: checks the OIDC token of every request (``None``: requests are not
            authenticated, e.g. behind Cloud Run's own IAM check).
        threads: handler runs at once; more concurrent requests wait up to 1 s, then get 503.
    """

    def __init__(
        self,
        processor: EventProcessor,
        *,
        host: str,
        port: int,
        verifier: TokenVerifier | None = None,
        threads: int = 10,
    ) -> None:
        self.processor = processor
        self.verifier = verifier
        self._slots = threading.BoundedSemaphore(threads)
        self._active = 0
        self._active_lock = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vbq-push-http", daemon=True
        )
        self._thread.start()
        _log.info("subscriber.push_listening", port=self.port)

    def stop(self, *, grace_s: float) -> int:
        """Stop accepting, wait up to ``grace_s`` for running handlers; returns how many were
        still running (their messages are answered 503 when their handler returns)."""
        self.processor.stop()
        self._server.shutdown()
        deadline = time.monotonic() + grace_s
        with self._active_lock:
            while self._active and time.monotonic() < deadline:
                self._active_lock.wait(deadline - time.monotonic())
            late = self._active
        if late:
            self.processor.abandon()
            _log.warning("subscriber.grace_expired", grace_s=grace_s, running=late)
        self._server.server_close()
        return late

    # -- one request ----------------------------------------------------------------------

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        """The HTTP status for one push request (the handlers run inside)."""
        try:
            if self.verifier is not None:
                self.verifier.verify(headers.get("authorization", ""))
            message = parse_push(headers, body)
        except PushRequestError as exc:
            _log.warning("subscriber.push_refused", status=exc.status, error=str(exc))
            return exc.status
        if self.processor.stopping or not self._slots.acquire(timeout=SLOT_WAIT_S):
            return 503
        with self._active_lock:
            self._active += 1
        try:
            self.processor.handle(message)
        finally:
            self._slots.release()
            with self._active_lock:
                self._active -= 1
                self._active_lock.notify_all()
        return _status(message)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._answer(server.handle(headers, body))

            def do_GET(self) -> None:
                ok = self.path.split("?", 1)[0] == "/healthz" and not server.processor.stopping
                self._answer(200 if ok else 404 if not server.processor.stopping else 503)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per push would drown the logs; outcomes are logged

        return Handler


def _status(message: PushedMessage) -> int:
    if message.outcome == "ack":
        return 204
    return 503 if message.outcome is None else 500


def serve_push(
    processor: EventProcessor,
    stop_event: threading.Event,
    *,
    host: str,
    port: int,
    grace_s: float,
    verifier: TokenVerifier | None = None,
    threads: int = 10,
) -> int:
    """Serve push requests until ``stop_event`` is set (``vbq subscribe --push``).

    Returns:
        How many handlers were still running when the grace period ended.

    Raises:
        OSError: the port could not be bound.
    """
    server = PushServer(processor, host=host, port=port, verifier=verifier, threads=threads)
    renewer = threading.Thread(
        target=processor.renew_claims, args=(stop_event,), name="vbq-inbox-renew", daemon=True
    )
    renewer.start()
    server.start()
    _log.info("subscriber.started", subscription=processor.subscription_path, mode="push")
    stop_event.wait()
    late = server.stop(grace_s=grace_s)
    _log.info("subscriber.stopped", **processor.counts())
    return late
