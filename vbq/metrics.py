"""Every Prometheus metric of vbq, defined in one place.

Metric objects are process-wide (prometheus-client's default registry). Code elsewhere calls
the small ``observe_*`` helpers or the objects directly; nothing else defines metrics.

Celery prefork: the ``vbq.submit`` task runs in child processes, so ``vbq worker`` switches
prometheus-client to **multiprocess mode** (``PROMETHEUS_MULTIPROC_DIR``, a fresh directory
per worker process tree, set before this module is first imported) and its ``/metrics``
aggregates every child's counters and histograms (:func:`registry_for_scrape`). No metric here
is a live ``Gauge``: values that describe the whole system (submissions by state, outbox depth,
slots in use) are read from Redis at scrape time by :class:`vbq.metrics_redis.RedisStateCollector`,
which is correct in any process model and never goes stale.

Names follow Prometheus conventions: ``_total`` counters, ``_seconds`` durations.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = [
    "CREATE_THROTTLED",
    "DEAD_LETTERED",
    "EVENTS_PUBLISHED",
    "HANDLER_FAILURES",
    "HANDLER_LATENCY",
    "HANDLER_RUNS",
    "POLL_CALLS_PER_CYCLE",
    "POLL_CYCLE_DURATION",
    "RATE_LIMIT_WAIT",
    "RATE_LIMIT_WAITS",
    "SUBMISSIONS_SUBMITTED",
    "SUBMIT_LATENCY",
    "SUBSCRIBER_MESSAGES",
    "VERTEX_CALLS",
    "VERTEX_CALL_DURATION",
    "multiprocess_enabled",
    "observe_create_throttled",
    "observe_poll_cycle",
    "observe_rate_limit_wait",
    "observe_submitted",
    "observe_vertex_call",
    "registry_for_scrape",
    "time_handler",
]

_LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
_SHORT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_CALL_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

SUBMISSIONS_SUBMITTED = Counter(
    "vbq_submissions_submitted_total",
    "Submissions that reached SUBMITTED (created now or adopted after an ambiguous create).",
    ["tenant", "via"],
)
SUBMIT_LATENCY = Histogram(
    "vbq_submit_latency_seconds",
    "Seconds from ACCEPTED (stored) to SUBMITTED (the Vertex job exists).",
    buckets=_LATENCY_BUCKETS_S,
)
ACCEPT_TO_CREATE = Histogram(
    "vbq_accept_to_create_seconds",
    "Seconds from ACCEPTED to the Vertex job's creation, per tenant (its wait in the "
    "scheduler's queue plus the create); the share of creates is "
    "rate(vbq_submissions_submitted_total) per tenant over the sum.",
    ["tenant"],
    buckets=_LATENCY_BUCKETS_S,
)
RATE_LIMIT_WAITS = Counter(
    "vbq_rate_limit_waits_total",
    "Refusals of the global rate limiter (the caller waits and comes back).",
    ["kind"],
)
RATE_LIMIT_WAIT = Histogram(
    "vbq_rate_limit_wait_seconds",
    "Wait the rate limiter asked for on a refusal, in seconds.",
    ["kind"],
    buckets=_SHORT_BUCKETS_S,
)
CREATE_THROTTLED = Counter(
    "vbq_create_throttled_total",
    "Creates Google answered 429 RESOURCE_EXHAUSTED, per pool (each lowers the adaptive rate).",
    ["project", "location"],
)
VERTEX_CALLS = Counter(
    "vbq_vertex_api_calls_total",
    "Vertex AI REST calls by method and HTTP status (0 = no answer).",
    ["method", "status"],
)
VERTEX_CALL_DURATION = Histogram(
    "vbq_vertex_api_call_duration_seconds",
    "Duration of one Vertex AI REST call, in seconds.",
    ["method"],
    buckets=_SHORT_BUCKETS_S,
)
POLL_CYCLE_DURATION = Histogram(
    "vbq_poll_cycle_duration_seconds",
    "Wall time of one poll cycle, in seconds.",
    buckets=_SHORT_BUCKETS_S,
)
POLL_CALLS_PER_CYCLE = Histogram(
    "vbq_poll_calls_per_cycle",
    "Vertex read calls (list + get) made by one poll cycle.",
    buckets=_CALL_BUCKETS,
)
EVENTS_PUBLISHED = Counter(
    "vbq_events_published_total",
    "Job events confirmed by Pub/Sub and removed from the outbox.",
)
HANDLER_RUNS = Counter(
    "vbq_handler_runs_total",
    "Subscriber handler invocations.",
    ["handler"],
)
HANDLER_FAILURES = Counter(
    "vbq_handler_failures_total",
    "Subscriber handler invocations that raised (the message is nacked).",
    ["handler"],
)
HANDLER_LATENCY = Histogram(
    "vbq_handler_duration_seconds",
    "Duration of one subscriber handler invocation, in seconds.",
    ["handler"],
    buckets=_LATENCY_BUCKETS_S,
)
SUBSCRIBER_MESSAGES = Counter(
    "vbq_subscriber_messages_total",
    "Messages a subscriber finished, by outcome (handled, duplicates, failed, ignored, ...).",
    ["outcome"],
)
DEAD_LETTERED = Counter(
    "vbq_dead_lettered_total",
    "Malformed messages sent to the dead-letter topic, by source (relay, subscriber).",
    ["source"],
)


def multiprocess_enabled() -> bool:
    """True when prometheus-client runs in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def registry_for_scrape(*extra: Any) -> CollectorRegistry:
    """The registry that ``/metrics`` serves, with ``extra`` collectors added.

    In multiprocess mode a fresh registry aggregating every process's files (the documented
    prometheus-client pattern); otherwise the default registry of this process. ``extra``
    collectors (scrape-time readers such as the Redis state collector) are registered on it
    once; registering the same object again is a no-op.
    """
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    for collector in extra:
        try:
            registry.register(collector)
        except ValueError:
            pass  # already registered on the default registry
    return registry


def observe_vertex_call(method: str, status_code: int, duration_s: float) -> None:
    """The :class:`vbq.vertex.VertexClient` ``on_call`` hook: count and time one call."""
    VERTEX_CALLS.labels(method=method, status=str(status_code)).inc()
    VERTEX_CALL_DURATION.labels(method=method).observe(max(0.0, duration_s))


def observe_rate_limit_wait(kind: str, wait_s: float) -> None:
    """Count one refusal of the ``kind`` limiter that asked to wait ``wait_s`` seconds."""
    RATE_LIMIT_WAITS.labels(kind=kind).inc()
    RATE_LIMIT_WAIT.labels(kind=kind).observe(max(0.0, wait_s))


def observe_create_throttled(project: str, location: str) -> None:
    """Count one create of (project, location) that Google answered 429."""
    CREATE_THROTTLED.labels(project=project, location=location).inc()


def observe_submitted(*, accepted_at_s: float, tenant: str, via: str) -> None:
    """Record a submission reaching SUBMITTED; ``accepted_at_s`` is its ``created_at`` (epoch s)."""
    SUBMISSIONS_SUBMITTED.labels(tenant=tenant, via=via).inc()
    waited_s = max(0.0, time.time() - accepted_at_s)
    SUBMIT_LATENCY.observe(waited_s)
    ACCEPT_TO_CREATE.labels(tenant=tenant).observe(waited_s)


def observe_poll_cycle(*, duration_s: float, api_calls: int) -> None:
    """Record one poll cycle that ran (its wall time in seconds and its Vertex read calls)."""
    POLL_CYCLE_DURATION.observe(max(0.0, duration_s))
    POLL_CALLS_PER_CYCLE.observe(api_calls)


@contextmanager
def time_handler(handler: str) -> Iterator[None]:
    """Count, time and (when it raises) count as failed one run of subscriber ``handler``.

    Re-raises whatever the block raised.
    """
    HANDLER_RUNS.labels(handler=handler).inc()
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        HANDLER_FAILURES.labels(handler=handler).inc()
        raise
    finally:
        HANDLER_LATENCY.labels(handler=handler).observe(time.perf_counter() - started)
