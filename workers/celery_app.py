"""The workers' Celery application: the shared configuration plus the task modules.

The configuration, queue and task names are the wire contract in :mod:`vbq.broker` (producers
publish with the same names without importing any worker code); this module adds the modules
whose tasks a worker runs and the Redis-broker guard (:mod:`vbq.workers.broker_guard`).
"""

from __future__ import annotations

from celery import Celery

from vbq.broker import app as broker_app
from vbq.broker.app import celery_config, max_countdown_s
from vbq.broker.names import (
    QUEUE_CANCEL,
    QUEUE_MAINTENANCE,
    QUEUE_POLL,
    QUEUE_SUBMIT,
    QUEUES,
    TASK_ROUTES,
)
from vbq.settings import Settings
from vbq.workers import broker_guard

__all__ = [
    "QUEUES",
    "QUEUE_CANCEL",
    "QUEUE_MAINTENANCE",
    "QUEUE_POLL",
    "QUEUE_SUBMIT",
    "TASK_MODULES",
    "TASK_ROUTES",
    "app",
    "celery_config",
    "create_app",
    "max_countdown_s",
]

# Modules whose tasks every worker registers. Besides these, every ``workers/*_tasks.py`` module
# is included automatically, so the poller, relay and beat can add tasks without editing here.
TASK_MODULES: tuple[str, ...] = ("vbq.workers.tasks",)


def create_app(settings: Settings | None = None) -> Celery:
    """The worker app for ``settings`` (default: ``Settings.from_env()``), tasks included.

    Raises:
        ConfigError: a ``VBQ_*`` variable is malformed.
    """
    return broker_app.create_app(settings, include=_task_modules())


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
