"""The Celery configuration both sides of the broker share, built from :class:`Settings`.

Delivery is at-least-once by design: ``acks_late`` with ``task_reject_on_worker_lost`` means a
task whose process dies (kill -9) is delivered again, and every task is idempotent. Messages are
JSON only (pickle would be code execution for whoever can write to the broker). Results are
never stored: the job store is the source of truth.

The broker URL passes through :func:`vbq.broker.url.broker_options`, so ``redis://``,
``rediss://``, ``sentinel://`` and ``amqp://`` brokers all work; Redis-specific transport
options are ignored by AMQP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from vbq.broker.names import QUEUE_MAINTENANCE, QUEUES, TASK_ROUTES
from vbq.broker.url import broker_options
from vbq.settings import Settings

__all__ = ["capped_countdown", "celery_config", "create_app", "max_countdown_s"]


def max_countdown_s(settings: Settings) -> float:
    """The longest ``countdown`` any vbq task may schedule, in seconds.

    Half the broker's visibility timeout: on Redis, a message whose ETA lies beyond the
    visibility timeout is restored and delivered again and again.
    """
    return settings.visibility_timeout_s / 2


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration (new-style lowercase names) for ``settings``."""
    exchange = Exchange("vbq", type="direct")
    broker = broker_options(settings.broker_url or settings.redis_url)  # sentinel, rediss
    return {
        "broker_url": broker.url,
        "broker_use_ssl": broker.use_ssl,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # Longer than any countdown we schedule (capped at half of it).
            "visibility_timeout": settings.visibility_timeout_s,
            **broker.transport_options,
        },
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Our own structlog configuration owns the root logger.
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "task_queues": tuple(Queue(name, exchange, routing_key=name) for name in QUEUES),
        "task_default_queue": QUEUE_MAINTENANCE,
        "task_default_exchange": "vbq",
        "task_default_routing_key": QUEUE_MAINTENANCE,
        "task_routes": (TASK_ROUTES,),
        "task_create_missing_queues": True,
        "enable_utc": True,
        "timezone": "UTC",
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }


def create_app(settings: Settings | None = None, *, include: Sequence[str] = ()) -> Celery:
    """A Celery app for ``settings`` (default: ``Settings.from_env()``), with no tasks.

    Enough to publish any vbq task by name (producers); workers pass ``include``, the modules
    whose tasks they run (:mod:`vbq.workers.celery_app`).

    Raises:
        ConfigError: a ``VBQ_*`` variable is malformed.
    """
    settings = settings or Settings.from_env()
    celery = Celery("vbq")
    celery.conf.update(celery_config(settings))
    if include:
        celery.conf.update(include=list(include))
    return celery


def capped_countdown(settings: Settings, countdown_s: float) -> float:
    """``countdown_s`` limited to ``[0, max_countdown_s(settings)]`` seconds."""
    return min(max(0.0, countdown_s), max_countdown_s(settings))
