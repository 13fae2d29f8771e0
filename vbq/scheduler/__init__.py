"""The scheduler: per-tenant, per-priority queues in Redis and their fair dispatch.

Pure parts are importable without Redis; :class:`vbq.scheduler.dispatcher.Dispatcher` and
:mod:`vbq.scheduler.stats` talk to Redis (docs/contracts.md § Scheduler).
"""

from vbq.scheduler.fair import FairQueueModel, activation_tag, next_tag, pick
from vbq.scheduler.keys import DEFAULT_PRIORITY, PRIORITIES
from vbq.scheduler.policy import TenantLimits, TenantPolicy

__all__ = [
    "DEFAULT_PRIORITY",
    "PRIORITIES",
    "FairQueueModel",
    "TenantLimits",
    "TenantPolicy",
    "activation_tag",
    "next_tag",
    "pick",
]
