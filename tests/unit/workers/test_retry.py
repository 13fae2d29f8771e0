"""Backoff arithmetic: full jitter, Retry-After floor, visibility cap."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from vbq.errors import VertexRetryableError
from vbq.settings import Settings
from vbq.workers.retry import backoff_s, capped, granted

SETTINGS = Settings(retry_base_s=1.0, retry_max_s=300.0, visibility_timeout_s=3600)


@given(attempt=st.integers(min_value=0, max_value=200), seed=st.integers(0, 2**32))
def test_full_jitter_stays_under_the_truncated_exponential(attempt: int, seed: int) -> None:
    wait = backoff_s(SETTINGS, attempt, rng=random.Random(seed))
    assert 0.0 <= wait <= min(300.0, 2.0**attempt)


def test_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(3)
    waits = [backoff_s(SETTINGS, 5, rng=rng) for _ in range(2000)]
    assert min(waits) < 2.0 and max(waits) > 30.0  # ceiling 32 s: uses the whole range


def test_retry_after_is_a_floor() -> None:
    err = VertexRetryableError("slow down", status_code=429, retry_after_s=42.0)
    assert all(backoff_s(SETTINGS, 0, err) >= 42.0 for _ in range(50))


def test_never_beyond_half_the_visibility_timeout() -> None:
    s = Settings(retry_base_s=1.0, retry_max_s=10_000.0, visibility_timeout_s=100)
    err = VertexRetryableError("x", retry_after_s=5000.0)
    assert backoff_s(s, 30, err) == 50.0
    assert capped(s, -3.0) == 0.0


def test_granted_reads_bools_and_decisions() -> None:
    class D:
        allowed = False

    assert granted(True) and not granted(False) and not granted(D())
