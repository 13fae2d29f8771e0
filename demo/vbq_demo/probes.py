"""Readiness probes of the demo's stack: is a service answering, is a role at work.

The roles log at WARNING in the demo, so readiness is read from the outside: the relay inside
beat holds ``vbq:relay:lock``, the subscriber has an open stream on the Pub/Sub emulator, a
worker answers Celery's broadcast ping.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx
import redis

from vbq.errors import ConfigError
from vbq.settings import Settings
from vbq_demo.supervisor import Child

__all__ = [
    "check_redis",
    "http_ok",
    "redis_key_exists",
    "subscription_streaming",
    "wait_celery_workers",
]


def http_ok(url: str) -> bool:
    """True when ``GET url`` answers 200 within 2 s."""
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def check_redis(url: str) -> None:
    """Ping the Redis at ``url``.

    Raises:
        ConfigError: it does not answer within 5 s.
    """
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConfigError(f"cannot reach the Redis at VBQ_REDIS_URL: {exc}") from exc
    finally:
        client.close()


def redis_key_exists(url: str, key: str) -> bool:
    """True when ``key`` exists in the Redis at ``url``.

    Raises:
        redis.RedisError: Redis does not answer.
    """
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return bool(client.exists(key))
    finally:
        client.close()


def subscription_streaming(admin_url: str, subscription_path: str) -> bool:
    """True when the Pub/Sub emulator at ``admin_url`` has an open stream on the subscription.

    Raises:
        httpx.HTTPError: the emulator's stats endpoint does not answer.
    """
    stats = httpx.get(f"{admin_url}/_emulator/stats", timeout=2.0).json()
    sub = (stats.get("subscriptions") or {}).get(subscription_path) or {}
    return any(s.get("open") for s in sub.get("streams") or [])


def wait_celery_workers(
    settings: Settings,
    names: Sequence[str],
    children: Sequence[Child],
    *,
    timeout_s: float = 60.0,
) -> None:
    """Block until a worker whose node name starts with each of ``names`` answers a ping.

    Raises:
        ConfigError: a child exited or ``timeout_s`` seconds passed (with the log tails).
    """
    from vbq.workers.celery_app import create_app

    app = create_app(settings)
    pending = set(names)
    deadline = time.monotonic() + timeout_s
    try:
        while pending:
            dead = [c.name for c in children if not c.alive()]
            if dead or time.monotonic() > deadline:
                tails = "\n".join(f"--- {c.name}\n{c.log_tail()}" for c in children)
                raise ConfigError(f"workers not ready ({sorted(pending)}), dead {dead}\n{tails}")
            for reply in app.control.ping(timeout=0.5) or []:
                for node in reply:
                    pending -= {n for n in pending if node.startswith(n)}
    finally:
        app.close()
