"""Fair sharing between tenants: start-time fair queuing on virtual tags (pure logic).

Each backlogged tenant of a place has a *start tag*. The dispatcher serves the tenant with the
smallest tag whose caps allow it, then advances that tenant's tag by ``1 / weight``; the
place's virtual clock becomes the tag just served. A tenant that becomes backlogged again
starts at ``max(its old tag, clock)``: it cannot save up credit while idle, and an idle
tenant's share goes to the others (work-conserving). With tenants A (weight 3) and B (weight 1)
both backlogged, A is served 3 times per B's 1.

``create.lua`` applies :func:`activation_tag` in Lua when a submission is queued; the
dispatcher applies :func:`pick` and :func:`next_tag`. :class:`FairQueueModel` runs the same
rules in memory (unit tests, benchmark sanity checks).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping

__all__ = ["FairQueueModel", "activation_tag", "next_tag", "pick"]


def activation_tag(last_tag: float | None, clock: float) -> float:
    """Start tag of a tenant that becomes backlogged: no credit for time spent idle."""
    return clock if last_tag is None else max(last_tag, clock)


def next_tag(start_tag: float, weight: float) -> float:
    """The tenant's tag after one of its submissions was dispatched.

    Raises:
        ValueError: ``weight`` is not positive.
    """
    if not weight > 0:
        raise ValueError(f"weight must be > 0, got {weight}")
    return start_tag + 1.0 / weight


def pick(
    tags: Iterable[tuple[str, float]], blocked: Callable[[str], bool] = lambda _t: False
) -> tuple[str, float] | None:
    """The tenant to serve next: the smallest tag (ties: by name) among the unblocked.

    Args:
        tags: (tenant, start tag) of the backlogged tenants, in any order.
        blocked: True for a tenant that may not be served now (a cap).
    """
    best: tuple[str, float] | None = None
    for tenant, tag in tags:
        if blocked(tenant):
            continue
        if best is None or (tag, tenant) < (best[1], best[0]):
            best = (tenant, tag)
    return best


class FairQueueModel:
    """The scheduler's order in memory: per-tenant, per-priority FIFO queues and tags.

    Args:
        weights: tenant → weight (missing: ``default_weight``).
        priorities: priority names, highest first.
    """

    def __init__(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        default_weight: float = 1.0,
        priorities: tuple[str, ...] = ("interactive", "default", "bulk"),
    ) -> None:
        self.weights = dict(weights or {})
        self.default_weight = default_weight
        self.priorities = priorities
        self.queues: dict[str, dict[str, deque[str]]] = {}
        self.active: dict[str, float] = {}
        self.idle_tags: dict[str, float] = {}
        self.clock = 0.0

    def add(self, tenant: str, item: str, priority: str = "default") -> None:
        """Queue ``item`` for ``tenant`` (arrival order within the priority)."""
        per = self.queues.setdefault(tenant, {p: deque() for p in self.priorities})
        per[priority].append(item)
        if tenant not in self.active:
            self.active[tenant] = activation_tag(self.idle_tags.get(tenant), self.clock)

    def next(self, blocked: Callable[[str], bool] = lambda _t: False) -> tuple[str, str] | None:
        """Dispatch one: ``(tenant, item)``, or None when nothing may go."""
        chosen = pick(self.active.items(), blocked)
        if chosen is None:
            return None
        tenant, start = chosen
        per = self.queues[tenant]
        item = next(per[p].popleft() for p in self.priorities if per[p])
        self.clock = max(self.clock, start)
        tag = next_tag(start, self.weights.get(tenant, self.default_weight))
        if any(per.values()):
            self.active[tenant] = tag
        else:
            del self.active[tenant]
            self.idle_tags[tenant] = tag
        return tenant, item
