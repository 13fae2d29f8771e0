"""Global GCRA limiter against a real redis-server: accuracy under concurrent processes."""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from typing import Any

import pytest
import redis

from vbq.errors import ConfigError
from vbq.quota.ratelimit import RateLimiter, emission_interval_us, rate_key
from vbq.settings import Settings


def _settings(redis_url: str, rate_per_s: float, burst: int) -> Settings:
    # No margin: these tests measure grants on the Redis clock, where the bar is exact (the
    # margin for delays after the grant is the unit tests' and the benchmark's subject).
    return Settings(
        redis_url=redis_url,
        create_rate_per_min=rate_per_s * 60,
        create_burst=burst,
        read_rate_per_min=rate_per_s * 60,
        read_burst=burst,
        rate_limit_margin_s=0.0,
    )


def _hammer(redis_url: str, rate_per_s: float, burst: int, run_s: float, out: Any) -> None:
    """One worker process: take as many grants as it can for run_s; report their server times."""
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, settings=_settings(redis_url, rate_per_s, burst))
    grants: list[float] = []
    deadline = time.monotonic() + run_s
    while time.monotonic() < deadline:
        d = limiter.try_acquire("create", "p", "us-central1")
        if d.allowed:
            grants.append(d.server_time_s)
        else:
            # Like a rescheduled task: come back when told, with a little jitter.
            time.sleep(min(d.retry_after_s + random.uniform(0, 0.003), 0.5))
    out.put(grants)


def _max_in_window(times: list[float], window_s: float) -> int:
    """Most grants in any closed window [t, t + window_s] (windows start at a grant)."""
    ts = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(ts):
        j = max(j, i)
        while j + 1 < len(ts) and ts[j + 1] <= start + window_s:
            j += 1
        best = max(best, j - i + 1)
    return best


def _run(redis_url: str, *, procs: int, rate_per_s: float, burst: int, run_s: float) -> list[float]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_hammer, args=(redis_url, rate_per_s, burst, run_s, out))
        for _ in range(procs)
    ]
    for w in workers:
        w.start()
    grants: list[float] = []
    for _ in workers:
        grants.extend(out.get(timeout=run_s + 30))
    for w in workers:
        w.join(timeout=10)
        assert w.exitcode == 0
    return sorted(grants)


def _check(grants: list[float], rate_per_s: float, burst: int) -> None:
    worst = _max_in_window(grants, 1.0)
    span = grants[-1] - grants[0]
    steady = (len(grants) - burst - 1) / span
    print(f"grants={len(grants)} max/1s={worst} bar={rate_per_s + burst} steady={steady:.2f}/s")
    assert worst <= rate_per_s + burst
    assert steady >= 0.95 * rate_per_s


def test_accuracy_four_processes_20_per_s(redis_url: str) -> None:
    grants = _run(redis_url, procs=4, rate_per_s=20, burst=3, run_s=3.0)
    _check(grants, 20, 3)


@pytest.mark.slow
def test_accuracy_eight_processes_long(redis_url: str) -> None:
    grants = _run(redis_url, procs=8, rate_per_s=50, burst=10, run_s=20.0)
    _check(grants, 50, 10)


def test_refusal_says_when_to_come_back(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, settings=_settings(redis_url, 2, 1))  # T = 0.5 s
    assert limiter.try_acquire("read", "p", "l").allowed
    assert limiter.try_acquire("read", "p", "l").allowed  # the burst
    refused = limiter.try_acquire("read", "p", "l")
    assert not refused.allowed and not refused
    assert 0.4 < refused.retry_after_s <= 0.5
    # Other kinds, projects and locations have their own budget.
    assert limiter.try_acquire("create", "p", "l").allowed
    assert limiter.try_acquire("read", "p2", "l").allowed
    assert limiter.try_acquire("read", "p", "l2").allowed
    # The key expires once the bucket would be full again.
    ttl_ms = client.pttl(rate_key("read", "p", "l"))
    assert 0 < ttl_ms <= 2000
    time.sleep(refused.retry_after_s + 0.01)
    assert limiter.try_acquire("read", "p", "l").allowed


def test_acquire_blocking_waits_then_times_out(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, settings=_settings(redis_url, 5, 0))  # T = 0.2 s
    assert limiter.acquire_blocking("read", "p", "l", timeout_s=0).allowed
    t0 = time.monotonic()
    d = limiter.acquire_blocking("read", "p", "l", timeout_s=2.0)
    waited = time.monotonic() - t0
    assert d.allowed and 0.1 < waited < 1.0
    t0 = time.monotonic()
    d = limiter.acquire_blocking("read", "p", "l", timeout_s=0.05)
    assert not d.allowed and time.monotonic() - t0 < 0.5


def test_unknown_kind_and_bad_rate(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, settings=_settings(redis_url, 5, 0))
    with pytest.raises(ConfigError):
        limiter.try_acquire("delete", "p", "l")
    with pytest.raises(ConfigError):
        emission_interval_us(0)


def test_emission_interval_never_exceeds_the_rate() -> None:
    for per_min in (1, 60, 600, 1200, 7, 3600.5, 60_000_000):
        interval = emission_interval_us(per_min)
        assert interval * per_min / 60 > 1_000_000
        assert interval * per_min / 60 < 1_000_000 + per_min  # at most 1 µs per call slower
