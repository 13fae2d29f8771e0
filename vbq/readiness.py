"""Readiness: whether the services a role needs answer now (what ``/readyz`` reports).

Each dependency has a :data:`Check` with a short timeout: Redis (``PING`` on a fresh
connection), the Celery broker (a connection, and a ping for Redis transports) and Pub/Sub
(``GetTopic`` of the events topic). :class:`Readiness` runs a role's checks
(:data:`ROLE_CHECKS`) and caches the answer briefly so probes cannot hammer the services;
``vbq doctor`` uses the same checks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from vbq.redaction import redact_text
from vbq.redisconn import connect
from vbq.settings import Settings

__all__ = [
    "ROLE_CHECKS",
    "Check",
    "Readiness",
    "broker_check",
    "pubsub_check",
    "readiness_for_role",
    "redis_check",
]

Check = Callable[[], None]
"""A readiness check: returns when the dependency answers, raises (anything) when not."""

ROLE_CHECKS: Mapping[str, tuple[str, ...]] = {
    "worker": ("redis", "broker"),
    "beat": ("redis", "broker", "pubsub"),
    "relay": ("redis", "pubsub"),
    "subscriber": ("redis", "pubsub"),
    "api": ("redis", "broker"),
}
"""Which dependencies each role needs to do its work (what ``/readyz`` checks)."""


def redis_check(url: str, *, timeout_s: float = 1.0) -> Check:
    """A check that PINGs the Redis at ``url`` (a fresh connection, ``timeout_s`` each way)."""

    def check() -> None:
        # A probe answers within its timeout: no riding out a failover here.
        client = connect(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            failover_timeout_s=0.0,
        )
        try:
            client.ping()
        finally:
            client.close()

    return check


def broker_check(url: str, *, timeout_s: float = 1.0) -> Check:
    """A check that connects to the Celery broker at ``url`` (Redis, Sentinel or AMQP)."""
    from kombu import Connection

    from vbq.broker.url import broker_options

    opts = broker_options(url)

    def check() -> None:
        extra: dict[str, Any] = {"ssl": opts.use_ssl} if opts.use_ssl else {}
        with Connection(
            opts.url, connect_timeout=timeout_s, transport_options=opts.transport_options, **extra
        ) as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, timeout=max(1, round(timeout_s))
            )
            if _is_redis(url):
                # Redis transports connect lazily: ping through a channel so a dead server shows.
                conn.default_channel.client.ping()  # type: ignore[attr-defined]

    return check


def _is_redis(url: str) -> bool:
    return url.split("://", 1)[0] in {"redis", "rediss", "sentinel", "redis+sentinel"}


def pubsub_check(settings: Settings, *, timeout_s: float = 2.0) -> Check:
    """A check that reads the events topic (``GetTopic``) from Pub/Sub or its emulator.

    The client is built on first use and reused (building one costs far more than a call).
    """
    clients: list[Any] = []

    def check() -> None:
        if not clients:
            from vbq.pubsub.admin import publisher_client

            clients.append(publisher_client(settings, enable_message_ordering=False))
        # No retries: a probe wants the current answer within its timeout.
        clients[0].get_topic(
            request={"topic": settings.events_topic_path()}, timeout=timeout_s, retry=None
        )

    return check


class Readiness:
    """Runs named checks and caches the answer for ``cache_s`` seconds.

    Args:
        checks: name → check; every check must pass for the role to be ready.
        cache_s: how long one answer is reused, in seconds (probes every second cost one run).
    """

    def __init__(self, *, checks: Mapping[str, Check], cache_s: float = 2.0) -> None:
        self.checks = dict(checks)
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: tuple[float, bool, dict[str, str]] | None = None

    def run(self) -> tuple[bool, dict[str, str]]:
        """``(ready, {name: "ok" or the error text})``; never raises."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_s:
                return self._cached[1], dict(self._cached[2])
            results: dict[str, str] = {}
            for name, check in self.checks.items():
                try:
                    check()
                    results[name] = "ok"
                except Exception as exc:
                    results[name] = redact_text(f"{type(exc).__name__}: {exc}")[:300]
            ready = all(v == "ok" for v in results.values())
            self._cached = (time.monotonic(), ready, results)
            return ready, dict(results)


def readiness_for_role(role: str, settings: Settings, *, timeout_s: float = 1.0) -> Readiness:
    """The :class:`Readiness` of ``role`` (a key of :data:`ROLE_CHECKS`).

    Raises:
        KeyError: unknown role.
    """
    makers: dict[str, Callable[[], Check]] = {
        "redis": lambda: redis_check(settings.redis_url, timeout_s=timeout_s),
        "broker": lambda: broker_check(
            settings.broker_url or settings.redis_url, timeout_s=timeout_s
        ),
        "pubsub": lambda: pubsub_check(settings, timeout_s=2 * timeout_s),
    }
    return Readiness(checks={name: makers[name]() for name in ROLE_CHECKS[role]})
