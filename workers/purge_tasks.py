"""The ``vbq.purge`` task (queue ``vbq.maintenance``) that beat sends every few seconds."""

from __future__ import annotations

import os
import threading
from typing import Any

import redis as redis_lib

from vbq.settings import Settings
from vbq.workers.celery_app import app
from vbq.workers.purger import Purger

__all__ = ["purge"]

_lock = threading.Lock()
_by_pid: dict[int, Purger] = {}


def _purger() -> Purger:
    # Per process: a prefork child must never reuse its parent's sockets.
    pid = os.getpid()
    with _lock:
        if pid not in _by_pid:
            from vbq.quota.ratelimit import RateLimiter
            from vbq.vertex import VertexClient

            settings = Settings.from_env()
            client = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True)
            _by_pid.clear()
            _by_pid[pid] = Purger(
                redis=client,
                vertex=VertexClient.from_settings(settings),
                limiter=RateLimiter(client, settings=settings),
            )
        return _by_pid[pid]


@app.task(name="vbq.purge", ignore_result=True, acks_late=False)
def purge() -> dict[str, Any]:
    """Delete at Google the Vertex jobs of submissions deleted from vbq; returns the counts."""
    return vars(_purger().run())
