"""Request and token metrics, read from Redis at scrape time."""

from __future__ import annotations

import pytest
import redis

from vbq.metrics_redis import RedisStateCollector

pytestmark = pytest.mark.integration


def test_requests_and_token_totals_are_scraped(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.hset("vbq:requests:counts", mapping={"PENDING": 3, "SUCCEEDED": 5})
    r.hset("vbq:usage:tenant:team-a", mapping={"prompt": 10, "total": 30, "cost_micros": 2_500_000})
    r.sadd("vbq:usage:tenants", "team-a")
    families = {f.name: f for f in RedisStateCollector(redis=r).collect()}
    requests = {s.labels["state"]: s.value for s in families["vbq_requests"].samples}
    assert requests == {"PENDING": 3, "SUCCEEDED": 5}
    tokens = {
        (s.labels["tenant"], s.labels["kind"]): s.value
        for s in families["vbq_tokens_by_tenant"].samples
        if s.name.endswith("_total")
    }
    assert tokens[("team-a", "total")] == 30 and tokens[("team-a", "prompt")] == 10
    cost = [
        s.value
        for s in families["vbq_estimated_cost_by_tenant"].samples
        if s.name.endswith("_total")
    ]
    assert cost == [2.5]
