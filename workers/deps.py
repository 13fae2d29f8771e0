"""The worker process's shared dependencies, built once per process.

Every task module (:mod:`vbq.workers.tasks`, :mod:`vbq.workers.poll_tasks`) builds its objects
through :class:`~vbq.forksafe.PerProcess` holders on top of :func:`settings_and_redis`, so one
worker process reads the environment once, opens one Redis pool, and a prefork child never
reuses its parent's sockets.
"""

from __future__ import annotations

import redis

from vbq.forksafe import PerProcess
from vbq.redisconn import client_for
from vbq.settings import Settings

__all__ = ["PerProcess", "settings_and_redis"]


def _connect() -> tuple[Settings, redis.Redis]:
    settings = Settings.from_env()
    return settings, client_for(settings, decode_responses=True)


_connection: PerProcess[tuple[Settings, redis.Redis]] = PerProcess(_connect)


def settings_and_redis() -> tuple[Settings, redis.Redis]:
    """This process's settings (from the environment) and its Redis client (decoded replies)."""
    return _connection.get()
