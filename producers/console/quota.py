"""What the console shows about the shared quota, behind one small interface.

:class:`QuotaSource` answers three questions: how deep is each tenant's queue, how long has its
oldest submission waited and what share of the creates it got; what create rate applies at each
place (configured and effective); how many in-flight slots each place uses.
:class:`StoreQuotaSource` reads the real sources: the scheduler's queues
(:func:`vbq.scheduler.stats.scheduler_stats`), the adaptive create rates
(:func:`vbq.quota.adaptive.read_rates`) and the slot pools (:class:`vbq.quota.Slots`).

Places shown: those :func:`~vbq.quota.adaptive.read_rates` lists, i.e. the default place
(``VBQ_PROJECT``, ``VBQ_LOCATION``) first, then every ``VBQ_LOCATIONS`` location under
``VBQ_PROJECT`` and every place whose create rate was ever lowered by a 429, each one row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from vbq.places import settings_for_place
from vbq.quota import Slots
from vbq.quota.adaptive import read_rates
from vbq.scheduler.stats import scheduler_stats
from vbq.settings import Settings

__all__ = ["PlaceView", "QuotaSource", "RateView", "SlotsView", "StoreQuotaSource", "TenantQueue"]


@dataclass(frozen=True, kw_only=True)
class TenantQueue:
    """One tenant's waiting work and use of the creates.

    Attributes:
        tenant: the tenant.
        depth: submissions waiting in the scheduler's queues (every place and priority
            summed; one waiting with several acceptable locations counts at each).
        by_priority: ``depth`` by priority (``interactive``, ``default``, ``bulk``).
        oldest_wait_s: how long the oldest of them has waited, in seconds; None when
            nothing waits.
        share: the tenant's share of the last minute's creates, 0..1; None when nothing was
            created.
    """

    tenant: str
    depth: int
    by_priority: dict[str, int] = field(default_factory=dict)
    oldest_wait_s: float | None = None
    share: float | None = None


@dataclass(frozen=True, kw_only=True)
class RateView:
    """The create rate of one (project, location).

    Attributes:
        configured_per_min: ``VBQ_CREATE_RATE_PER_MIN`` (or the place's
            ``VBQ_LOCATION_LIMITS`` override), the ceiling.
        burst: ``VBQ_CREATE_BURST`` (or the place's override).
        effective_per_min: the rate in force now (below the ceiling after 429s with an
            adaptive rate); equal to the configured rate without one.
        adaptive: True when ``VBQ_ADAPTIVE_RATE`` is on (``effective_per_min`` may then be
            lower than the configured rate).
        throttled: 429s counted since the rate was last at the ceiling.
    """

    configured_per_min: float
    burst: int
    effective_per_min: float
    adaptive: bool
    throttled: int = 0


@dataclass(frozen=True, kw_only=True)
class SlotsView:
    """In-flight Vertex jobs of one (project, location) against their cap.

    Attributes:
        used: slots held or leased now.
        limit: ``VBQ_MAX_IN_FLIGHT`` (or the place's override).
    """

    used: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class PlaceView:
    """One place's create rate and in-flight slots."""

    project: str
    location: str
    rate: RateView
    slots: SlotsView


class QuotaSource(Protocol):
    """Where the overview's quota figures come from (see the module doc)."""

    project: str
    location: str

    def tenant_queues(self, tenants: Collection[str] | None) -> list[TenantQueue]:
        """Queues of ``tenants`` (None: every tenant with queued work or recent creates),
        deepest first."""

    def places(self) -> list[PlaceView]:
        """Every place shown, the default place first (never empty)."""


class StoreQuotaSource:
    """:class:`QuotaSource` from the scheduler's queues, the adaptive rates and the slot pools.

    Args:
        redis: the store's Redis client.
        settings: project, location, rates, caps and the tenant policy.

    Raises:
        ConfigError: the tenant policy or a place setting is malformed.
    """

    def __init__(self, *, redis: Any, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self.project = settings.project
        self.location = settings.location
        self._policy = settings.tenant_policy()
        self._slots = Slots(redis, settings=settings)

    def tenant_queues(self, tenants: Collection[str] | None) -> list[TenantQueue]:
        """From :func:`~vbq.scheduler.stats.scheduler_stats` (a few round trips, one
        ``ZCARD`` per queued (place, tenant, priority); nothing per submission).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        wanted = None if tenants is None else set(tenants)
        queues = [
            TenantQueue(
                tenant=s.tenant,
                depth=s.queued_total,
                by_priority=dict(s.queued),
                oldest_wait_s=s.oldest_wait_s if s.queued_total else None,
                share=s.share if s.creates_recent else None,
            )
            for s in scheduler_stats(self._redis, policy=self._policy, window_s=60)
            if wanted is None or s.tenant in wanted
        ]
        return sorted(queues, key=lambda q: (-q.depth, q.tenant))

    def places(self) -> list[PlaceView]:
        """Each place of :func:`~vbq.quota.adaptive.read_rates` (the default one first) with
        its configured and effective create rate and its slots (unexpired entries of
        ``vbq:slots:{project}:{location}``, on the Redis clock).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        s = self._settings
        default = (self.project, self.location)
        rates = {(r.project, r.location): r for r in read_rates(self._redis, s)}
        out = []
        for project, location in sorted(rates.keys() | {default}, key=lambda p: (p != default, p)):
            placed = settings_for_place(s, project, location)
            found = rates.get((project, location))  # None: no VBQ_PROJECT (read_rates skips it)
            configured = placed.create_rate_per_min
            rate = RateView(
                configured_per_min=configured,
                burst=placed.create_burst,
                effective_per_min=round(found.effective_per_s * 60.0, 3) if found else configured,
                adaptive=s.adaptive_rate,
                throttled=found.throttled if found else 0,
            )
            slots = SlotsView(
                used=self._slots.in_use(project, location), limit=placed.max_in_flight
            )
            out.append(PlaceView(project=project, location=location, rate=rate, slots=slots))
        return out
