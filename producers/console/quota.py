"""What the console shows about the shared quota, behind one small interface.

:class:`QuotaSource` answers three questions: how deep is each tenant's queue and how long has
its oldest submission waited, what create rate applies (configured and effective), and how
many in-flight slots are used. :class:`StoreQuotaSource` answers them from what the store and
the settings hold today: the queue is the tenant's ACCEPTED submissions (created, not yet sent
to Google), the oldest wait comes from the oldest entries of the ACCEPTED index, and the
effective rate is the configured one (no adaptive rate exists yet). When the scheduler of
issue 14 publishes its per-tenant queues and adaptive rate, a source reading them replaces
this one here and nothing else in the console changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from vbq.quota import Slots
from vbq.settings import Settings
from vbq.store.keys import PREFIX, state_index_key

__all__ = ["QuotaSource", "RateView", "SlotsView", "StoreQuotaSource", "TenantQueue"]

_OLDEST_PROBE = 2000

# KEYS[1] the ACCEPTED index. ARGV[1] entries to look at, ARGV[2] key prefix, ARGV[3] tenants
# wanted. Returns {tenant, created_at, ...}: each tenant's oldest among the entries looked at.
# Server-side: 2,000 HGETs here take ~1 ms; through a client pipeline, ~40 ms of parsing.
_OLDEST_SCRIPT = """
local rows = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local seen, out, found = {}, {}, 0
for i = 1, #rows, 2 do
  local tenant = redis.call('HGET', ARGV[2] .. 'sub:' .. rows[i], 'tenant')
  if tenant and not seen[tenant] then
    seen[tenant] = true
    out[#out + 1] = tenant
    out[#out + 1] = rows[i + 1]
    found = found + 1
    if found >= tonumber(ARGV[3]) then break end
  end
end
return out
"""


@dataclass(frozen=True, kw_only=True)
class TenantQueue:
    """One tenant's waiting work.

    Attributes:
        tenant: the tenant.
        depth: submissions waiting to be sent to Google.
        oldest_wait_s: how long the oldest of them has waited, in seconds; None when unknown
            (the tenant has none among the oldest entries probed).
    """

    tenant: str
    depth: int
    oldest_wait_s: float | None


@dataclass(frozen=True, kw_only=True)
class RateView:
    """The create rate of one (project, location).

    Attributes:
        configured_per_min: ``VBQ_CREATE_RATE_PER_MIN``, the ceiling.
        burst: ``VBQ_CREATE_BURST``.
        effective_per_min: the rate in force now (below the ceiling after 429s with an
            adaptive rate); equal to the configured rate without one.
        adaptive: True when ``effective_per_min`` comes from an adaptive rate.
    """

    configured_per_min: float
    burst: int
    effective_per_min: float
    adaptive: bool


@dataclass(frozen=True, kw_only=True)
class SlotsView:
    """In-flight Vertex jobs of one (project, location) against their cap.

    Attributes:
        used: slots held or leased now.
        limit: ``VBQ_MAX_IN_FLIGHT``.
    """

    used: int
    limit: int


class QuotaSource(Protocol):
    """Where the overview's quota figures come from (see the module doc)."""

    project: str
    location: str

    def tenant_queues(self, depths: dict[str, int], *, now_s: float) -> list[TenantQueue]:
        """Queues of the tenants in ``depths`` (tenant -> waiting submissions, from the
        store's counts), deepest first."""

    def create_rate(self) -> RateView:
        """The create rate configured and in force."""

    def slots(self, *, now_s: float) -> SlotsView:
        """In-flight slots used and their cap."""


class StoreQuotaSource:
    """:class:`QuotaSource` from the job store, the slot pool and the settings.

    Args:
        redis: the store's Redis client.
        settings: rate, burst, cap, project and location.
    """

    def __init__(self, *, redis: Any, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self.project = settings.project
        self.location = settings.location
        self._oldest = redis.register_script(_OLDEST_SCRIPT)
        self._slots = Slots(redis, settings=settings)

    def tenant_queues(self, depths: dict[str, int], *, now_s: float) -> list[TenantQueue]:
        """Depth from the counts; the oldest wait of each tenant found among the oldest
        ACCEPTED submissions (one server-side scan of at most 2,000 entries)."""
        waiting = {t: n for t, n in depths.items() if n > 0}
        oldest: dict[str, float] = {}
        if waiting:
            reply = self._oldest(
                keys=[state_index_key("ACCEPTED")], args=[_OLDEST_PROBE, PREFIX, len(waiting)]
            )
            it = iter(reply)
            for tenant, score in zip(it, it, strict=True):
                oldest[_text(tenant)] = float(_text(score))
        queues = [
            TenantQueue(
                tenant=t,
                depth=n,
                oldest_wait_s=max(0.0, now_s - oldest[t]) if t in oldest else None,
            )
            for t, n in waiting.items()
        ]
        return sorted(queues, key=lambda q: (-q.depth, q.tenant))

    def create_rate(self) -> RateView:
        """The configured rate; no adaptive rate exists yet, so it is also the effective one."""
        s = self._settings
        return RateView(
            configured_per_min=s.create_rate_per_min,
            burst=s.create_burst,
            effective_per_min=s.create_rate_per_min,
            adaptive=False,
        )

    def slots(self, *, now_s: float) -> SlotsView:
        """Held slots and unexpired leases of the (project, location) pool
        (:meth:`vbq.quota.Slots.in_use`, on the Redis clock)."""
        used = self._slots.in_use(self.project, self.location)
        return SlotsView(used=used, limit=self._settings.max_in_flight)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
