"""The overview page's data: who has what in which state, the quota, the event pipeline.

Everything comes from counters and indexes (a handful of round trips whatever the store's
size): the per-tenant-and-state counters and the state indexes (:mod:`vbq.store.counts`), the
windowed counters (:mod:`vbq.stats`), the outbox stream and a
:class:`~vbq.producers.console.quota.QuotaSource` (the scheduler's queues, the create rates
and slots of each place). A tenant viewer sees its own tenant's rows and the deployment-wide
quota figures (places, rates, slots), never another tenant's name or numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vbq.producers.console.quota import PlaceView, QuotaSource, RateView, SlotsView, TenantQueue
from vbq.producers.console.session import Viewer
from vbq.states import SubmissionState
from vbq.stats import CREATE_429, CREATES, StatsSnapshot, read_stats
from vbq.store import IN_FLIGHT_STATES
from vbq.store.counts import TenantStateCounts, read_counts
from vbq.store.keys import OUTBOX_KEY

__all__ = ["MinuteRow", "Overview", "TenantRow", "build_overview"]

STATE_ORDER: tuple[str, ...] = tuple(s.value for s in SubmissionState)
_IN_FLIGHT = frozenset(s.value for s in IN_FLIGHT_STATES)
_CHART_MINUTES = 10


@dataclass(frozen=True, kw_only=True)
class TenantRow:
    """One tenant's line of the state table and of the quota table."""

    tenant: str
    by_state: dict[str, int]
    total: int
    in_flight: int
    creates_last_min: int
    refusals_last_min: int


@dataclass(frozen=True, kw_only=True)
class MinuteRow:
    """Creates and 429s in one minute of the chart (``start_s`` = the minute's start)."""

    start_s: float
    creates: int
    refusals: int


@dataclass(frozen=True, kw_only=True)
class Overview:
    """Everything the overview renders (see the module doc)."""

    viewer: Viewer
    now_s: float
    project: str
    location: str
    states: list[str]
    rows: list[TenantRow]
    state_totals: dict[str, int]
    total: int
    counts_consistent: bool
    queues: list[TenantQueue]
    places: list[PlaceView]
    creates_last_min: int
    refusals_last_min: int
    refusals_total: int
    creates_total: int
    minutes: list[MinuteRow]
    in_flight_jobs: int
    outbox_depth: int
    outbox_oldest_age_s: float | None
    events_recorded: int
    events_published: int
    events_handled: int
    handled_by_group: dict[str, int] = field(default_factory=dict)

    def queue_of(self, tenant: str) -> TenantQueue | None:
        """The queue of ``tenant`` (None when nothing of it waits)."""
        return next((q for q in self.queues if q.tenant == tenant), None)

    def share_of_creates(self, tenant: str) -> float | None:
        """The tenant's share of the last minute's creates, 0..1 (None: no creates), as the
        scheduler counts it (``vbq list --queues``)."""
        queue = self.queue_of(tenant)
        return queue.share if queue is not None else None

    @property
    def rate(self) -> RateView:
        """The create rate of the default place (shown first)."""
        return self.places[0].rate

    @property
    def slots(self) -> SlotsView:
        """The in-flight slots of the default place."""
        return self.places[0].slots

    @property
    def chart_max(self) -> int:
        """The largest per-minute count of the chart (at least the configured rates of every
        place summed: the chart counts every place's creates)."""
        peak = max((m.creates for m in self.minutes), default=0)
        configured = sum(p.rate.configured_per_min for p in self.places)
        return max(peak, int(configured), 1)


def build_overview(redis: Any, *, viewer: Viewer, quota: QuotaSource) -> Overview:
    """Read everything the overview shows, scoped to ``viewer``.

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    scope = viewer.scope
    counts = read_counts(redis, tenants=None if scope is None else [scope])
    # One minute more than the chart shows, so its oldest minute is whole.
    stats = read_stats(redis, seconds=(_CHART_MINUTES + 1) * 60, names=(CREATES, CREATE_429))
    now_s = stats.now_s
    outbox = _outbox(redis, now_s)
    creates_by_tenant = stats.recent_by_tenant(CREATES, seconds=60)
    refusals_by_tenant = stats.recent_by_tenant(CREATE_429, seconds=60)
    tenants = counts.tenants if scope is None else [scope]
    rows = [
        _row(counts, t, creates_by_tenant.get(t, 0), refusals_by_tenant.get(t, 0)) for t in tenants
    ]
    shown = {s for s, n in counts.state_totals.items() if n}
    return Overview(
        viewer=viewer,
        now_s=now_s,
        project=quota.project,
        location=quota.location,
        states=[s for s in STATE_ORDER if s in shown],
        rows=rows,
        state_totals=dict(counts.state_totals),
        total=counts.total,
        counts_consistent=counts.consistent,
        queues=quota.tenant_queues(None if scope is None else [scope]),
        places=quota.places(),
        creates_last_min=stats.recent(CREATES, seconds=60),
        refusals_last_min=stats.recent(CREATE_429, seconds=60),
        refusals_total=stats.counters.get(CREATE_429, 0),
        creates_total=stats.counters.get(CREATES, 0),
        minutes=_minutes(stats),
        in_flight_jobs=sum(n for s, n in counts.state_totals.items() if s in _IN_FLIGHT)
        if scope is None
        else sum(r.in_flight for r in rows),
        outbox_depth=outbox[0],
        outbox_oldest_age_s=outbox[1],
        events_recorded=outbox[2],
        events_published=stats.counters.get("events_published", 0),
        events_handled=stats.counters.get("events_handled", 0),
        handled_by_group=stats.handled_by_group(),
    )


def _row(counts: TenantStateCounts, tenant: str, creates: int, refusals: int) -> TenantRow:
    by_state = dict(counts.by_tenant.get(tenant, {}))
    return TenantRow(
        tenant=tenant,
        by_state=by_state,
        total=sum(by_state.values()),
        in_flight=sum(n for s, n in by_state.items() if s in _IN_FLIGHT),
        creates_last_min=creates,
        refusals_last_min=refusals,
    )


def _minutes(stats: StatsSnapshot) -> list[MinuteRow]:
    """The 10-s windows grouped into minutes, the last ``_CHART_MINUTES`` (the newest one is
    still filling), from the first minute with any activity."""
    out: dict[float, list[int]] = {}
    for name, slot in ((CREATES, 0), (CREATE_429, 1)):
        for start, by_tenant in stats.windows.get(name, []):
            minute = start - start % 60
            out.setdefault(minute, [0, 0])[slot] += sum(by_tenant.values())
    rows = [MinuteRow(start_s=m, creates=v[0], refusals=v[1]) for m, v in sorted(out.items())]
    rows = rows[-_CHART_MINUTES:]
    while rows and not (rows[0].creates or rows[0].refusals):
        rows.pop(0)
    return rows


def _outbox(redis: Any, now_s: float) -> tuple[int, float | None, int]:
    pipe = redis.pipeline(transaction=False)
    pipe.xlen(OUTBOX_KEY)
    pipe.xrange(OUTBOX_KEY, "-", "+", count=1)
    pipe.get(f"{OUTBOX_KEY}:added")
    depth, first, added = pipe.execute()
    age: float | None = None
    if first:
        entry_id = first[0][0]
        millis = int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])
        age = max(0.0, now_s - millis / 1000)
    return int(depth), age, int(added or 0)
