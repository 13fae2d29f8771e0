"""The scrape-time gauges read tenants and slot pools from maintained keys, never a SCAN."""

from __future__ import annotations

import redis

from tests.integration.producers.conftest import valid_kwargs
from vbq.metrics_redis import RedisStateCollector
from vbq.producers import Client
from vbq.quota.slots import Slots
from vbq.settings import Settings


def _scan_like_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("scan", "keys"))


def _samples(collector: RedisStateCollector, name: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for family in collector.collect():
        for s in family.samples:
            if s.name == name:
                out[tuple(s.labels.values())] = s.value
    return out


def test_tenants_and_slot_pools_without_a_scan(redis_url: str) -> None:
    settings = Settings.from_env(
        {"VBQ_REDIS_URL": redis_url, "VBQ_PROJECT": "proj-m", "VBQ_MAX_IN_FLIGHT_PER_MODEL": "5"}
    )
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()
    client = Client.from_settings(settings)
    for i in range(3):
        client.submit(**valid_kwargs(i), tenant="team-a")
    client.submit(**valid_kwargs(9), tenant="team-b")
    Slots(r, settings=settings).try_take("s1", "proj-m", "us-central1", "m1", 60.0)
    collector = RedisStateCollector(redis=r, settings=settings)
    before = _scan_like_calls(r)

    assert _samples(collector, "vbq_submissions_by_tenant") == {("team-a",): 3, ("team-b",): 1}
    slots = _samples(collector, "vbq_slots_in_use")
    assert slots == {("proj-m", "us-central1", ""): 1, ("proj-m", "us-central1", "m1"): 1}
    assert _scan_like_calls(r) == before
