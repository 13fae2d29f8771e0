"""Scrape-time metrics of requests and token totals, read from Redis (with the other
system-wide gauges of :class:`vbq.metrics_redis.RedisStateCollector`, served by beat and relay).

- ``vbq_requests{state}``: requests per stored state (PENDING, SUCCEEDED, FAILED);
- ``vbq_tokens_by_tenant_total{tenant, kind}`` / ``vbq_tokens_by_model_total{model, kind}``:
  token sums over finished jobs, ``kind`` = prompt, candidates, thoughts, cached, total;
- ``vbq_estimated_cost_by_tenant_total{tenant}`` / ``..._by_model_total{model}``: in the price
  table's currency (``VBQ_PRICE_TABLE``; 0 without one).
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from vbq.requests.keys import COUNTS_KEY
from vbq.usage.ledger import UsageLedger

__all__ = ["usage_families"]

_KINDS = ("prompt", "candidates", "thoughts", "cached", "total")


def usage_families(redis: redis_lib.Redis, *, max_keys: int = 1000) -> list[Any]:
    """The metric families (prometheus-client), read now.

    Raises:
        redis.RedisError: Redis is unreachable (the collector reports ``vbq_redis_up 0``).
    """
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    requests = GaugeMetricFamily("vbq_requests", "Single requests by state.", labels=["state"])
    for key, value in redis.hgetall(COUNTS_KEY).items():
        requests.add_metric([_text(key)], int(_text(value)))
    out: list[Any] = [requests]
    ledger = UsageLedger(redis)
    for kind in ("tenant", "model"):
        tokens = CounterMetricFamily(
            f"vbq_tokens_by_{kind}",
            f"Tokens of finished Gemini jobs by {kind}.",
            labels=[kind, "kind"],
        )
        cost = CounterMetricFamily(
            f"vbq_estimated_cost_by_{kind}",
            f"Estimated cost of finished jobs by {kind}.",
            labels=[kind],
        )
        for totals in ledger.totals(kind)[:max_keys]:
            for name, n in totals.tokens.to_dict().items():
                tokens.add_metric([totals.name, name], n)
            cost.add_metric([totals.name], totals.cost)
        out += [tokens, cost]
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
