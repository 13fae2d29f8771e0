"""The Celery wire contract that producers and workers share.

Task and queue names (:mod:`~vbq.broker.names`), the Celery configuration and a publishing app
(:mod:`~vbq.broker.app`), message building and publishing (:class:`Enqueuer`), the due marks
the sweeper reads (:class:`DueIndex`) and broker URL handling (:mod:`~vbq.broker.url`).
Producers publish through here without importing any worker code.
"""

from vbq.broker.app import capped_countdown, celery_config, create_app, max_countdown_s
from vbq.broker.due import DUE_KEY, DueIndex
from vbq.broker.enqueue import Enqueuer
from vbq.broker.names import (
    QUEUE_CANCEL,
    QUEUE_MAINTENANCE,
    QUEUE_POLL,
    QUEUE_SUBMIT,
    QUEUES,
    TASK_CANCEL,
    TASK_ROUTES,
    TASK_SUBMIT,
    TASK_SWEEP,
)
from vbq.broker.url import broker_options

__all__ = [
    "DUE_KEY",
    "QUEUES",
    "QUEUE_CANCEL",
    "QUEUE_MAINTENANCE",
    "QUEUE_POLL",
    "QUEUE_SUBMIT",
    "TASK_CANCEL",
    "TASK_ROUTES",
    "TASK_SUBMIT",
    "TASK_SWEEP",
    "DueIndex",
    "Enqueuer",
    "broker_options",
    "capped_countdown",
    "celery_config",
    "create_app",
    "max_countdown_s",
]
