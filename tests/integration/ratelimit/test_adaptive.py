"""Adaptive create rate against a real redis-server: shared by limiters, cut by 429s, recovers.

Short settings (20/s ceiling, climb 20/s per s) keep each test to a few seconds. With burst 0
and margin 0, tau is 0, so a grant at server time g sets TAT = g + T and an ask right after it
is refused with retry_after = g + T - now: :func:`_interval_s` reads the emission interval T
the limiter applies from two decisions on the Redis clock, however slowly this process runs on
a loaded machine (counting grants per second would measure this process instead).
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


def _interval_s(granting: RateLimiter, asking: RateLimiter | None = None) -> float:
    """The emission interval (s) in force: a grant by ``granting``, then an ask by ``asking``
    (default the same limiter) that is refused; T = wait hint + time between the two."""
    for _ in range(50):
        first = granting.acquire_blocking("create", P, L, timeout_s=5.0)
        assert first.allowed
        second = (asking or granting).try_acquire("create", P, L)
        if not second.allowed:
            return second.retry_after_s + (second.server_time_s - first.server_time_s)
    raise AssertionError("every second ask was granted: no interval to read")


def test_two_limiters_share_the_effective_rate(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url, adaptive_quiet_s=60.0)  # no climb during the test
    a = RateLimiter(redis.Redis.from_url(redis_url), settings=settings)
    b = RateLimiter(redis.Redis.from_url(redis_url), settings=settings)
    assert _interval_s(a, b) == pytest.approx(1 / 20, rel=0.01)

    rate = record_throttled(r, P, L, settings=settings)  # one worker saw a 429
    assert rate == 10.0
    # Both limiters (two clients, as two processes) now space grants for 10/s.
    assert _interval_s(a, b) == pytest.approx(1 / 10, rel=0.01)
    assert _interval_s(b, a) == pytest.approx(1 / 10, rel=0.01)


def test_a_burst_of_429s_cuts_once_then_each_interval_again(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url, adaptive_quiet_s=60.0, adaptive_decrease_interval_s=1.0)
    rates = [record_throttled(r, P, L, settings=settings) for _ in range(5)]
    assert rates == [10.0] * 5  # one window's 429s count once
    time.sleep(1.05)
    assert record_throttled(r, P, L, settings=settings) == 5.0
    (row,) = read_rates(r, settings)
    assert (row.project, row.location, row.ceiling_per_s) == (P, L, 20.0)
    assert row.effective_per_s == 5.0 and row.throttled == 6
    assert row.last_429_age_s is not None and 0 <= row.last_429_age_s < 1.0
    assert r.smembers(POOLS_KEY) == {f"{P}:{L}"}
    for _ in range(2):  # 5 -> 2.5 -> 2 (not 1.25)
        time.sleep(1.05)
        record_throttled(r, P, L, settings=settings)
    assert read_rates(r, settings)[0].effective_per_s == pytest.approx(2.0)  # the floor


def test_recovers_additively_after_a_quiet_period(r: redis.Redis, redis_url: str) -> None:
    settings = _settings(redis_url, adaptive_quiet_s=2.0)
    limiter = RateLimiter(redis.Redis.from_url(redis_url), settings=settings)
    record_throttled(r, P, L, settings=settings)  # 10/s
    time.sleep(0.35)
    started = time.monotonic()
    record_throttled(r, P, L, settings=settings)  # 5/s, quiet for 2 s
    # The state expires once the climb would be over (2 + 0.75 s) plus a minute.
    assert 62_500 <= int(r.pttl(adaptive_key(P, L))) <= 62_750
    assert _interval_s(limiter) == pytest.approx(1 / 5, rel=0.01)
    assert time.monotonic() - started < 2.0  # (still in the quiet period)
    # Climbing 20/s per second from 5/s after the quiet period: 15/s half a second in ...
    time.sleep(max(0.0, started + 2.5 - time.monotonic()))
    (row,) = read_rates(r, settings)
    assert row.last_429_age_s is not None and row.last_429_age_s > 2.0
    expected = min(20.0, 5.0 + 20.0 * (row.last_429_age_s - 2.0))  # from the same server time
    assert row.effective_per_s == pytest.approx(expected, abs=0.01)
    # ... and the ceiling 0.75 s in.
    time.sleep(0.5)
    assert read_rates(r, settings)[0].effective_per_s == 20.0
    assert _interval_s(limiter) == pytest.approx(1 / 20, rel=0.01)


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
    assert _interval_s(fixed) == pytest.approx(1 / 20, rel=0.01)
