"""Scrape-time gauges read from Redis: submissions by state and tenant, outbox, slots, the
adaptive create rate.

These describe the whole system, not one process, so they are read from the job store when
Prometheus scrapes instead of being kept in process memory: correct under Celery prefork, never
stale, and identical whichever process serves them. Roles that are singletons (``vbq beat``,
``vbq relay``) register the collector; dashboards take ``max()`` over instances in case several
do.

Cost per scrape (never a ``SCAN``): one pipeline of ``ZCARD`` per state, one ``HGETALL`` of the
per-tenant state counts, ``SMEMBERS`` of the slot pools (``vbq:slots:pools``) and one ``ZCOUNT``
per pool (bounded by ``max_keys``), ``XLEN`` + one ``XRANGE`` entry of the outbox, (with
``settings``) two pipelines for the effective create rates (:func:`vbq.quota.adaptive.read_rates`),
the scheduler's queues (:func:`vbq.scheduler.stats.scheduler_stats`), and each place's poll
schedule (one pipeline, :meth:`vbq.store.poll_schedule.PlaceSchedule.states`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis as redis_lib
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vbq.logs import get_logger
from vbq.quota.adaptive import read_rates
from vbq.quota.slots import POOLS_KEY
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.store.keys import OUTBOX_KEY

__all__ = ["RedisStateCollector"]

_log = get_logger("vbq.metrics")

_TENANT_STATE_COUNTS = "vbq:count:tenant-state"
_STATE_PREFIX = "vbq:idx:state:"
_SLOTS_PREFIX = "vbq:slots:"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class RedisStateCollector(Collector):
    """A prometheus-client collector that reads the system's state from Redis at scrape time.

    Args:
        redis: a client of the vbq Redis (``decode_responses`` either way); give it a short
            ``socket_timeout`` so that a dead Redis cannot hang a scrape.
        max_keys: most tenant or slot keys reported (bounds the cost and the label cardinality).
        settings: when given, also ``vbq_create_rate_effective_per_s`` and
            ``vbq_create_rate_ceiling_per_s`` per (project, location).

    A Redis error during a scrape yields ``vbq_redis_up 0`` and none of the other gauges (never
    raises into the HTTP handler).
    """

    def __init__(
        self, *, redis: redis_lib.Redis, max_keys: int = 1000, settings: Settings | None = None
    ) -> None:
        self._redis = redis
        self._max_keys = max_keys
        self._settings = settings

    def describe(self) -> list[Any]:
        """Nothing up front: the metric names are produced at scrape time only."""
        return []

    def collect(self) -> Iterator[Any]:
        """Yield the gauges (see the module docstring)."""
        up = GaugeMetricFamily("vbq_redis_up", "1 when the scrape could read the vbq Redis.")
        try:
            families = self._read()
        except redis_lib.RedisError as exc:
            _log.warning("metrics.redis_unavailable", error=str(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    # -- reading --------------------------------------------------------------------------------

    def _read(self) -> list[Any]:
        states = list(SubmissionState)
        pipe = self._redis.pipeline(transaction=False)
        for st in states:
            pipe.zcard(f"{_STATE_PREFIX}{st.value}")
        pipe.xlen(OUTBOX_KEY)
        pipe.xrange(OUTBOX_KEY, "-", "+", count=1)
        pipe.time()
        *counts, depth, first, server_time = pipe.execute()
        now_s = float(server_time[0]) + float(server_time[1]) / 1e6

        by_state = GaugeMetricFamily(
            "vbq_submissions", "Submissions in the job store by state.", labels=["state"]
        )
        for st, n in zip(states, counts, strict=True):
            by_state.add_metric([st.value], int(n))

        by_tenant = GaugeMetricFamily(
            "vbq_submissions_by_tenant",
            "Submissions in the job store by tenant.",
            labels=["tenant"],
        )
        for tenant, n in self._tenant_totals():
            by_tenant.add_metric([tenant], n)

        outbox_depth = GaugeMetricFamily("vbq_outbox_depth", "Events waiting in vbq:outbox.")
        outbox_depth.add_metric([], int(depth))
        outbox_age = GaugeMetricFamily(
            "vbq_outbox_oldest_age_seconds",
            "Age of the oldest outbox entry in seconds (0 when empty).",
        )
        age_s = 0.0
        if first:
            ms = int(_text(first[0][0]).split("-", 1)[0])
            age_s = max(0.0, now_s - ms / 1000.0)
        outbox_age.add_metric([], age_s)

        slots = GaugeMetricFamily(
            "vbq_slots_in_use",
            "In-flight slots held or leased (unexpired) per pool.",
            labels=["project", "location", "model"],
        )
        slot_keys = self._slot_pools()
        pipe = self._redis.pipeline(transaction=False)
        for key in slot_keys:
            # Expired leases are reaped lazily by the take script: count only live ones.
            pipe.zcount(key, f"({now_s}", "+inf")
        for key, n in zip(slot_keys, pipe.execute() if slot_keys else [], strict=True):
            project, location, *model = key[len(_SLOTS_PREFIX) :].split(":", 2)
            slots.add_metric([project, location, model[0] if model else ""], int(n))
        from vbq.usage.metrics import usage_families

        usage = usage_families(self._redis, max_keys=self._max_keys)
        return [
            by_state,
            by_tenant,
            outbox_depth,
            outbox_age,
            slots,
            *usage,
            *self._rates(),
            *self._scheduler(),
            *self._poll_schedule(),
        ]

    def _poll_schedule(self) -> list[Any]:
        from vbq.store.poll_schedule import PlaceSchedule

        labels = ["project", "location"]
        interval = GaugeMetricFamily(
            "vbq_poll_interval_seconds",
            "The place's poll interval after its last poll (back-off), in seconds.",
            labels=labels,
        )
        due_in = GaugeMetricFamily(
            "vbq_poll_next_due_seconds",
            "Seconds until the place is next polled (negative: overdue; 0: never polled).",
            labels=labels,
        )
        failures = GaugeMetricFamily(
            "vbq_poll_failures",
            "The place's polls in a row whose list call failed or ran out of read budget.",
            labels=labels,
        )
        settings = self._settings or Settings()
        now, states = PlaceSchedule(self._redis, settings=settings).states(prune=False)
        for st in states[: self._max_keys]:
            where = [st.project, st.location]
            interval.add_metric(where, st.interval_s)
            due_in.add_metric(where, 0.0 if st.due_at is None else st.due_at - now)
            failures.add_metric(where, st.failures)
        return [interval, due_in, failures]

    def _rates(self) -> list[Any]:
        if self._settings is None:
            return []
        effective = GaugeMetricFamily(
            "vbq_create_rate_effective_per_s",
            "Create calls per second the limiter grants now (adaptive: lowered by 429s).",
            labels=["project", "location"],
        )
        ceiling = GaugeMetricFamily(
            "vbq_create_rate_ceiling_per_s",
            "The configured create rate per second (the adaptive rate's ceiling).",
            labels=["project", "location"],
        )
        for row in read_rates(self._redis, self._settings):
            effective.add_metric([row.project, row.location], row.effective_per_s)
            ceiling.add_metric([row.project, row.location], row.ceiling_per_s)
        return [effective, ceiling]

    def _scheduler(self) -> list[Any]:
        from vbq.scheduler.stats import scheduler_stats

        policy = self._settings.tenant_policy() if self._settings is not None else None

        queued = GaugeMetricFamily(
            "vbq_scheduler_queued",
            "Submissions waiting in the scheduler's queues, by tenant and priority.",
            labels=["tenant", "priority"],
        )
        oldest = GaugeMetricFamily(
            "vbq_scheduler_oldest_wait_seconds",
            "How long the tenant's oldest queued submission has waited, in seconds.",
            labels=["tenant"],
        )
        share = GaugeMetricFamily(
            "vbq_scheduler_create_share",
            "The tenant's share of the jobs created in the last 60 s (0..1).",
            labels=["tenant"],
        )
        for row in scheduler_stats(self._redis, policy=policy)[: self._max_keys]:
            for priority, n in row.queued.items():
                queued.add_metric([row.tenant, priority], n)
            oldest.add_metric([row.tenant], row.oldest_wait_s)
            share.add_metric([row.tenant], row.share)
        return [queued, oldest, share]

    def _tenant_totals(self) -> list[tuple[str, int]]:
        """(tenant, submissions) from the store's per-tenant state counts (one ``HGETALL``
        of ``vbq:count:tenant-state``, kept by every write; never a ``SCAN``)."""
        raw: dict[Any, Any] = self._redis.hgetall(_TENANT_STATE_COUNTS)  # type: ignore[assignment]
        totals: dict[str, int] = {}
        for field, n in raw.items():
            tenant = _text(field).rsplit(":", 1)[0]
            totals[tenant] = totals.get(tenant, 0) + int(n)
        return sorted(totals.items())[: self._max_keys]

    def _slot_pools(self) -> list[str]:
        """Slot pool keys from :data:`vbq.quota.slots.POOLS_KEY` (never a ``SCAN``)."""
        members: set[Any] = self._redis.smembers(POOLS_KEY)  # type: ignore[assignment]
        keys = sorted(_text(k) for k in members)
        return [k for k in keys if k.startswith(_SLOTS_PREFIX) and k.count(":") >= 3][
            : self._max_keys
        ]
