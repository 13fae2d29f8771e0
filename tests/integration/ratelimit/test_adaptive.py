"""Adaptive create rate against a real redis-server: shared by limiters, cut by 429s, recovers.

Short settings (20/s ceiling, quiet 0.5 s, climb 20/s per s) keep each test to a few seconds.
Grants are counted on the Redis clock (``Decision.server_time_s``), margin 0, burst 0, so the
expected counts are exact up to one grant at each end of a window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from vbq.quota.adaptive import (
    POOLS_KEY,
    AdaptiveParams,
    AdaptiveState,
    adaptive_key,
    after_throttle,
    effective_rate,
    read_rates,
    record_throttled,
)
from vbq.quota.ratelimit import RateLimiter
from vbq.settings import Settings

pytestmark = pytest.mark.integration

P, L = "proj", "us-central1"


def _settings(redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "project": P,
        "location": L,
        "create_rate_per_min": 1200,  # 20/s
        "create_burst": 0,
        "rate_limit_margin_s": 0.0,
        "adaptive_decrease_factor": 0.5,
        "adaptive_decrease_interval_s": 0.3,
        "adaptive_quiet_s": 0.5,
        "adaptive_increase_share_per_s": 1.0,  # +20/s per second
        "adaptive_min_share": 0.1,  # floor 2/s
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def _grants_in(limiters: list[RateLimiter], seconds: float) -> list[float]:
    """Ask as fast as possible, alternating limiters, for ``seconds``; grant times (server)."""
    grants: list[float] = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        d = limiters[i % len(limiters)].try_acquire("create", P, L)
        i += 1
        if d.allowed:
            grants.append(d.server_time_s)
        else:
            time.sleep(min(d.retry_after_s, 0.005))
    return grants


def _rate(grants: list[float]) -> float:
    return (len(grants) - 1) / (grants[-1] - grants[0])


def test_two_limiters_share_the_effective_rate(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url, adaptive_quiet_s=60.0)  # no climb during the test
    a = RateLimiter(redis.Redis.from_url(redis_url), settings=settings)
    b = RateLimiter(redis.Redis.from_url(redis_url), settings=settings)
    before = _grants_in([a, b], 1.0)
    assert _rate(before) == pytest.approx(20.0, rel=0.06)

    rate = record_throttled(r, P, L, settings=settings)  # one worker saw a 429
    assert rate == 10.0
    after = _grants_in([b, a], 1.5)
    assert _rate(after) == pytest.approx(10.0, rel=0.06)
    # The other process's limiter, never told of the 429, is slowed as much.
    assert len(after) <= 16


def test_a_burst_of_429s_cuts_once_then_each_interval_again(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url, adaptive_quiet_s=60.0)
    rates = [record_throttled(r, P, L, settings=settings) for _ in range(5)]
    assert rates == [10.0] * 5  # one window's 429s count once
    time.sleep(0.35)
    assert record_throttled(r, P, L, settings=settings) == 5.0
    (row,) = read_rates(r, settings)
    assert (row.project, row.location, row.ceiling_per_s) == (P, L, 20.0)
    assert row.effective_per_s == 5.0 and row.throttled == 6
    assert row.last_429_age_s is not None and 0 <= row.last_429_age_s < 1.0
    assert r.smembers(POOLS_KEY) == {f"{P}:{L}"}
    for _ in range(10):
        time.sleep(0.31)
        record_throttled(r, P, L, settings=settings)
    assert read_rates(r, settings)[0].effective_per_s == pytest.approx(2.0)  # the floor


def test_recovers_additively_after_a_quiet_period(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url)
    limiter = RateLimiter(redis.Redis.from_url(redis_url), settings=settings)
    record_throttled(r, P, L, settings=settings)  # 10/s
    time.sleep(0.35)
    record_throttled(r, P, L, settings=settings)  # 5/s, quiet until +0.5 s
    # The state expires once the climb would be over (0.5 + 0.75 s) plus a minute.
    assert 61_000 <= int(r.pttl(adaptive_key(P, L))) <= 61_250
    quiet = _grants_in([limiter], 0.45)
    assert _rate(quiet) == pytest.approx(5.0, rel=0.15)
    # Climbing 20/s per second from 5/s: the ceiling 0.75 s after the quiet period.
    time.sleep(0.9)
    assert read_rates(r, settings)[0].effective_per_s == 20.0
    full = _grants_in([limiter], 1.0)
    assert _rate(full) == pytest.approx(20.0, rel=0.06)


def test_the_lua_state_matches_the_python_model(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url, adaptive_quiet_s=0.2)
    params = AdaptiveParams.from_settings(settings)
    model: AdaptiveState | None = None
    for pause_s in (0.0, 0.1, 0.35, 0.5, 0.05, 1.2):
        time.sleep(pause_s)
        record_throttled(r, P, L, settings=settings)
        stored = r.hgetall(adaptive_key(P, L))
        now_us = int(stored["last_429"])
        model, _ = after_throttle(model, now_us, params)
        assert float(stored["base"]) == model.base_per_s
        assert int(stored["last_cut"]) == model.last_cut_us
        assert int(stored["throttled"]) == model.throttled
    sec, usec = r.time()
    assert read_rates(r, settings)[0].effective_per_s >= effective_rate(
        model, int(sec) * 1_000_000 + int(usec), params
    )


def test_fixed_rate_when_adaptation_is_off(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url, adaptive_rate=False)
    assert record_throttled(r, P, L, settings=settings) is None
    assert not r.exists(adaptive_key(P, L))
    record_throttled(r, P, L, settings=_settings(redis_url, adaptive_quiet_s=60.0))
    fixed = RateLimiter(redis.Redis.from_url(redis_url), settings=settings)
    assert _rate(_grants_in([fixed], 1.0)) == pytest.approx(20.0, rel=0.06)
