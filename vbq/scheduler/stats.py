"""What the scheduler's queues hold, per tenant: the public read for the CLI, metrics and the
console (:func:`scheduler_stats`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from vbq.scheduler.keys import PLACES_KEY, PRIORITIES, active_key, place_of, queue_key
from vbq.scheduler.policy import TenantPolicy
from vbq.stats import CREATES, read_stats

__all__ = ["TenantQueueStats", "scheduler_stats"]

_MAX_TENANTS = 1000  # per place: bounds the cost of one read and the metrics' cardinality


@dataclass(frozen=True, kw_only=True)
class TenantQueueStats:
    """One tenant's queues and its recent share of creates.

    Attributes:
        tenant: the tenant.
        queued: submissions waiting, by priority (every place summed).
        oldest_wait_s: how long the oldest waiting submission has waited, in seconds.
        creates_recent: jobs created for the tenant in the last ``window_s`` seconds.
        share: ``creates_recent`` over all tenants' (0..1; 0 when nothing was created).
        weight: the tenant's weight from the policy.
    """

    tenant: str
    queued: dict[str, int] = field(default_factory=dict)
    oldest_wait_s: float = 0.0
    creates_recent: int = 0
    share: float = 0.0
    weight: float = 1.0

    @property
    def queued_total(self) -> int:
        """Submissions waiting, all priorities."""
        return sum(self.queued.values())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def scheduler_stats(
    redis_client: redis.Redis, *, policy: TenantPolicy | None = None, window_s: int = 60
) -> list[TenantQueueStats]:
    """Per tenant: queue depth by priority, oldest wait, creates and share in the last
    ``window_s`` seconds (windows of 10 s, the open one included). Tenants with neither
    queued work nor recent creates are left out. Sorted by tenant.

    Cost: a few pipelined round trips; one ``ZCARD`` per (place, tenant, priority).

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    policy = policy or TenantPolicy()
    snapshot = read_stats(redis_client, seconds=max(10, window_s), names=(CREATES,))
    creates = snapshot.recent_by_tenant(CREATES, seconds=window_s)
    places = [place_of(_text(m)) for m in redis_client.smembers(PLACES_KEY)]
    pipe = redis_client.pipeline(transaction=False)
    for project, location in places:
        pipe.zrange(active_key(project, location), 0, _MAX_TENANTS - 1)
    active = [[_text(t) for t in found] for found in pipe.execute()] if places else []
    cells = [
        (project, location, tenant, priority)
        for (project, location), tenants in zip(places, active, strict=True)
        for tenant in tenants
        for priority in PRIORITIES
    ]
    pipe = redis_client.pipeline(transaction=False)
    for cell in cells:
        pipe.zcard(queue_key(*cell))
        pipe.zrange(queue_key(*cell), 0, 0)
    replies = pipe.execute() if cells else []
    queued: dict[str, dict[str, int]] = {}
    heads: dict[str, list[str]] = {}
    for i, (_, _, tenant, priority) in enumerate(cells):
        n, head = int(replies[2 * i]), replies[2 * i + 1]
        per = queued.setdefault(tenant, {p: 0 for p in PRIORITIES})
        per[priority] += n
        if head:
            heads.setdefault(tenant, []).append(_text(head[0]))
    oldest = _oldest_created(redis_client, heads)
    total = sum(creates.values())
    out = []
    for tenant in sorted(set(queued) | set(creates)):
        born = oldest.get(tenant)
        out.append(
            TenantQueueStats(
                tenant=tenant,
                queued=queued.get(tenant, {p: 0 for p in PRIORITIES}),
                oldest_wait_s=max(0.0, snapshot.now_s - born) if born else 0.0,
                creates_recent=creates.get(tenant, 0),
                share=creates.get(tenant, 0) / total if total else 0.0,
                weight=policy.limits(tenant).weight,
            )
        )
    return out


def _oldest_created(redis_client: redis.Redis, heads: dict[str, list[str]]) -> dict[str, float]:
    pairs = [(tenant, sid) for tenant, sids in heads.items() for sid in sids]
    if not pairs:
        return {}
    pipe = redis_client.pipeline(transaction=False)
    for _, sid in pairs:
        pipe.hget(f"vbq:sub:{sid}", "created_at")
    out: dict[str, float] = {}
    for (tenant, _), created in zip(pairs, pipe.execute(), strict=True):
        if created:
            out[tenant] = min(out.get(tenant, float("inf")), float(_text(created)))
    return out
