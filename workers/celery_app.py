"""The Celery application of vbq, configured from :class:`vbq.settings.Settings`.

One queue per kind of work, so that a burst of submissions never starves polling or the
outbox relay, and each kind can get its own worker pool (``vbq worker --queues vbq.poll``):

========================  =============================================================
queue                     tasks
========================  =============================================================
``vbq.submit``            ``vbq.submit`` (create the Vertex job)
``vbq.cancel``            ``vbq.cancel``
``vbq.poll``              ``vbq.poll`` and ``vbq.poll.*``
``vbq.maintenance``       everything else: ``vbq.sweep``, the relay, beat's housekeeping
========================  =============================================================

Delivery is at-least-once by design: ``acks_late`` with ``task_reject_on_worker_lost`` means a
task whose process dies (kill -9) is delivered again, and every task is idempotent. Messages are
JSON only (pickle would be code execution for whoever can write to the broker). Results are
never stored: the job store is the source of truth.

The broker URL passes through untouched, so ``redis://``, ``rediss://``, ``sentinel://`` and
``amqp://`` brokers all work; Redis-specific transport options are ignored by AMQP.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from vbq.broker_url import broker_options
from vbq.settings import Settings
from vbq.workers import broker_guard

__all__ = [
    "QUEUES",
    "QUEUE_CANCEL",
    "QUEUE_MAINTENANCE",
    "QUEUE_POLL",
    "QUEUE_SUBMIT",
    "app",
    "create_app",
    "max_countdown_s",
]

QUEUE_SUBMIT = "vbq.submit"
QUEUE_CANCEL = "vbq.cancel"
QUEUE_POLL = "vbq.poll"
QUEUE_MAINTENANCE = "vbq.maintenance"
QUEUES: tuple[str, ...] = (QUEUE_SUBMIT, QUEUE_CANCEL, QUEUE_POLL, QUEUE_MAINTENANCE)

# Modules whose tasks every worker registers. Besides these, every ``workers/*_tasks.py`` module
# is included automatically, so the poller, relay and beat can add tasks without editing here.
TASK_MODULES: tuple[str, ...] = ("vbq.workers.tasks",)

# Glob routes, checked in order: the first match wins.
TASK_ROUTES: dict[str, dict[str, str]] = {
    "vbq.submit": {"queue": QUEUE_SUBMIT},
    "vbq.cancel": {"queue": QUEUE_CANCEL},
    "vbq.poll": {"queue": QUEUE_POLL},
    "vbq.poll.*": {"queue": QUEUE_POLL},
    "vbq.*": {"queue": QUEUE_MAINTENANCE},
}


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


def create_app(settings: Settings | None = None) -> Celery:
    """Build a Celery app for ``settings`` (default: ``Settings.from_env()``).

    Raises:
        ConfigError: a ``VBQ_*`` variable is malformed.
    """
    settings = settings or Settings.from_env()
    celery = Celery("vbq")
    celery.conf.update(celery_config(settings))
    celery.conf.update(include=_task_modules())
    return celery


def _task_modules() -> list[str]:
    import pkgutil
    from pathlib import Path

    here = str(Path(__file__).resolve().parent)
    found = sorted(
        f"vbq.workers.{info.name}"
        for info in pkgutil.iter_modules([here])
        if info.name.endswith("_tasks")
    )
    return [*TASK_MODULES, *(m for m in found if m not in TASK_MODULES)]


broker_guard.install()
app: Celery = create_app()
"""The process-wide app, configured from the environment at import time."""
