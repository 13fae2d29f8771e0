"""``/metrics``, ``/healthz`` and ``/readyz`` for every long-running role.

:class:`HealthServer` is a tiny HTTP server in a daemon thread (standard library only), started
by ``vbq worker``, ``vbq beat``, ``vbq subscribe`` and ``vbq relay`` on ``--metrics-port`` /
``VBQ_METRICS_PORT`` (0 = off). ``vbq api`` serves the same routes on its own port
(:func:`add_fastapi_routes`).

- ``/healthz`` — liveness: the thread that runs the role's loop is alive (200) or not (503).
  A liveness probe must not depend on Redis: a Redis outage should not restart every pod.
- ``/readyz`` — readiness: Redis, the broker and Pub/Sub answer, each with a short timeout
  (:class:`vbq.readiness.Readiness`, re-exported here; results cached briefly so probes cannot
  hammer the services).
  The body is JSON: ``{"ready": bool, "checks": {"redis": "ok" | "<error>", ...}}``.
- ``/metrics`` — Prometheus text format (:func:`vbq.metrics.registry_for_scrape`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vbq.logs import get_logger
from vbq.readiness import (
    ROLE_CHECKS,
    Check,
    Readiness,
    broker_check,
    pubsub_check,
    readiness_for_role,
    redis_check,
)
from vbq.redisconn import client_for
from vbq.settings import Settings

__all__ = [
    "ROLE_CHECKS",
    "Check",
    "HealthServer",
    "Readiness",
    "add_fastapi_routes",
    "broker_check",
    "enable_multiprocess_metrics",
    "pubsub_check",
    "readiness_for_role",
    "redis_check",
    "start_for_role",
]

_log = get_logger("vbq.health")


def enable_multiprocess_metrics() -> str:
    """Switch prometheus-client to multiprocess mode for a prefork process tree.

    Sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory (under the one already set, if any,
    so that a restarted worker never reads a dead tree's files) and returns it. Must run
    before anything imports ``vbq.metrics`` (the value class is chosen at import).

    Raises:
        ConfigError: ``vbq.metrics`` was imported already (the metrics would stay per process).
    """
    import atexit
    import shutil
    import sys
    import tempfile

    from vbq.errors import ConfigError

    if "vbq.metrics" in sys.modules and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        raise ConfigError("vbq.metrics was imported before multiprocess mode was enabled")
    parent = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix="vbq-metrics-", dir=parent)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    owner = os.getpid()

    def _cleanup() -> None:
        if os.getpid() == owner:  # forked children run atexit too: only the parent removes it
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(_cleanup)
    return path


def _main_thread_alive() -> bool:
    return threading.main_thread().is_alive()


class HealthServer:
    """The ``/metrics``, ``/healthz``, ``/readyz`` HTTP server of one process, in a thread.

    Args:
        port: TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        host: address to bind (``0.0.0.0`` in containers so probes and Prometheus reach it).
        readiness: what ``/readyz`` runs.
        liveness: what ``/healthz`` asks (default: the main thread is alive).
        collectors: extra prometheus-client collectors served on ``/metrics`` (scrape-time
            readers such as :class:`vbq.metrics_redis.RedisStateCollector`).
        role: a name for logs and the ``/healthz`` body.
    """

    def __init__(
        self,
        *,
        port: int,
        host: str = "0.0.0.0",
        readiness: Readiness,
        liveness: Callable[[], bool] | None = None,
        collectors: Sequence[Any] = (),
        role: str = "",
    ) -> None:
        self.host = host
        self.readiness = readiness
        self.liveness = liveness or _main_thread_alive
        self.collectors = tuple(collectors)
        self.role = role
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Bind and serve in a daemon thread.

        Raises:
            OSError: the port cannot be bound.
        """
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self.host, self._requested_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vbq-health", daemon=True
        )
        self._thread.start()
        _log.info("health.listening", role=self.role, host=self.host, port=self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the three answers (also used by the FastAPI routes) -------------------------------------

    def metrics_body(self) -> tuple[bytes, str]:
        """``(body, content type)`` of ``/metrics``."""
        return render_metrics(self.collectors)

    def healthz_body(self) -> tuple[int, dict[str, Any]]:
        """``(status, JSON body)`` of ``/healthz``."""
        alive = _safe_bool(self.liveness)
        return (200 if alive else 503), {"status": "ok" if alive else "dead", "role": self.role}

    def readyz_body(self) -> tuple[int, dict[str, Any]]:
        """``(status, JSON body)`` of ``/readyz``."""
        ready, checks = self.readiness.run()
        return (200 if ready else 503), {"ready": ready, "checks": checks, "role": self.role}


def render_metrics(collectors: Sequence[Any] = ()) -> tuple[bytes, str]:
    """The Prometheus text exposition of this process (or process tree) plus ``collectors``."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from vbq.metrics import registry_for_scrape

    return generate_latest(registry_for_scrape(*collectors)), CONTENT_TYPE_LATEST


def _safe_bool(func: Callable[[], bool]) -> bool:
    try:
        return bool(func())
    except Exception:
        return False


def _make_handler(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    body, ctype = server.metrics_body()
                    self._send(200, body, ctype)
                elif path in {"/healthz", "/readyz"}:
                    status, doc = (
                        server.healthz_body() if path == "/healthz" else server.readyz_body()
                    )
                    self._send(status, json.dumps(doc).encode(), "application/json")
                else:
                    self._send(404, b'{"error": "not found"}', "application/json")
            except Exception as exc:
                _log.warning("health.request_failed", path=path, error=str(exc))
                self._send(500, b'{"error": "internal"}', "application/json")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # probes every few seconds would flood the logs

    return _Handler


def start_for_role(
    role: str,
    settings: Settings,
    *,
    port: int | None = None,
    liveness: Callable[[], bool] | None = None,
    state_gauges: bool = False,
) -> HealthServer | None:
    """Start the health server of ``role`` when a port is configured; None when off.

    Args:
        role: a key of :data:`ROLE_CHECKS`.
        settings: Redis/broker/Pub/Sub to check; ``metrics_port`` when ``port`` is None.
        port: overrides ``settings.metrics_port`` (``--metrics-port``); 0 = off.
        liveness: what ``/healthz`` asks (default: the main thread is alive).
        state_gauges: also serve the Redis state gauges (singleton roles: beat, relay).

    Raises:
        OSError: the port cannot be bound.
    """
    chosen = settings.metrics_port if port is None else port
    if not chosen:
        return None
    collectors: list[Any] = []
    if state_gauges:
        from vbq.metrics_redis import RedisStateCollector

        client = client_for(settings, socket_timeout=2.0, socket_connect_timeout=2.0)
        collectors.append(RedisStateCollector(redis=client, settings=settings))
    return HealthServer(
        port=chosen,
        host=settings.metrics_host,
        readiness=readiness_for_role(role, settings),
        liveness=liveness,
        collectors=collectors,
        role=role,
    ).start()


def add_fastapi_routes(app: Any, *, readiness: Readiness, collectors: Sequence[Any] = ()) -> None:
    """Add ``/metrics`` and ``/readyz`` (unauthenticated, like ``/healthz``) to a FastAPI app."""
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    @app.get("/metrics", include_in_schema=False)  # type: ignore[untyped-decorator]
    async def metrics() -> Response:
        body, ctype = await run_in_threadpool(render_metrics, collectors)
        return Response(content=body, media_type=ctype)

    @app.get("/readyz", include_in_schema=False)  # type: ignore[untyped-decorator]
    async def readyz() -> JSONResponse:
        ready, checks = await run_in_threadpool(readiness.run)
        return JSONResponse(
            {"ready": ready, "checks": checks, "role": "api"}, status_code=200 if ready else 503
        )
