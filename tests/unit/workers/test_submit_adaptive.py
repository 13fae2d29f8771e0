"""The submit path feeds the adaptive create rate: a 429 to a create lowers it, others do not."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from tests.unit.workers.fakes import (
    LOCATION,
    PROJECT,
    FakeLimiter,
    FakeSlots,
    FakeStore,
    FakeVertex,
    Record,
)
from vbq.errors import VertexError, VertexRetryableError
from vbq.metrics import CREATE_THROTTLED
from vbq.quota.adaptive import adaptive_key, read_rates
from vbq.settings import Settings
from vbq.workers.submit import Submitter

SID = "0123456789abcdef0123456789abcdef"
SETTINGS = Settings(project=PROJECT, location=LOCATION, create_rate_per_min=600)  # 10/s


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def _attempt(r: redis.Redis, error: VertexError, settings: Settings = SETTINGS) -> str:
    store, vertex = FakeStore(), FakeVertex()
    vertex.script = [error]
    store.add(Record(id=SID))
    sub = Submitter(
        store=store,
        vertex=vertex,
        limiter=FakeLimiter(),
        slots=FakeSlots(),
        redis_client=r,
        settings=settings,
        rng=random.Random(1),
    )
    return sub.run(SID).action


def _throttled_count() -> float:
    return float(CREATE_THROTTLED.labels(project=PROJECT, location=LOCATION)._value.get())


def test_a_429_to_a_create_halves_the_pools_rate(r: redis.Redis) -> None:
    quota = VertexRetryableError("busy", status_code=429, status="RESOURCE_EXHAUSTED")
    before = _throttled_count()
    assert _attempt(r, quota) == "retry"
    assert _throttled_count() == before + 1
    (row,) = read_rates(r, SETTINGS)
    assert (row.project, row.location) == (PROJECT, LOCATION)
    assert (row.effective_per_s, row.throttled) == (5.0, 1)


def test_with_adaptation_off_a_429_is_counted_but_the_rate_stays(r: redis.Redis) -> None:
    quota = VertexRetryableError("busy", status_code=429, status="RESOURCE_EXHAUSTED")
    fixed = Settings(project=PROJECT, location=LOCATION, adaptive_rate=False)
    before = _throttled_count()
    assert _attempt(r, quota, fixed) == "retry"
    assert _throttled_count() == before + 1
    assert not r.exists(adaptive_key(PROJECT, LOCATION))


def test_a_503_leaves_the_rate_alone(r: redis.Redis) -> None:
    busy = VertexRetryableError("unavailable", status_code=503, status="UNAVAILABLE")
    before = _throttled_count()
    assert _attempt(r, busy) == "retry"
    assert _throttled_count() == before
    assert not r.exists(adaptive_key(PROJECT, LOCATION))
    assert read_rates(r, SETTINGS)[0].effective_per_s == 10.0
