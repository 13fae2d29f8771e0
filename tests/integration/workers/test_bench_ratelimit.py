"""Smoke run of ops/bench/bench_ratelimit.py: the global create limit holds across 4 workers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ops.bench.bench_ratelimit import peak_window, run, steady_rate

pytestmark = [pytest.mark.integration]


def test_window_helpers() -> None:
    assert peak_window([0.0, 0.5, 0.99, 1.0, 1.6]) == 3  # [t, t + 1): 0.0 and 1.0 never meet
    assert peak_window([0.0, 0.5, 0.99, 1.0, 1.2]) == 4
    assert peak_window([]) == 0
    assert steady_rate([0.0, 0.0, 1.0, 2.0, 3.0, 4.0], skip_first=1) == pytest.approx(1.0)


def test_global_create_rate_holds_across_four_workers(tmp_path: Path) -> None:
    results, limit, burst = run(
        backlog=100, workers=4, rate_per_min=1200.0, celery_builtin=False, workdir=tmp_path
    )
    (vbq,) = results
    print(vbq.row(limit, burst))
    assert vbq.creates == 100
    # The limiter holds back VBQ_RATE_LIMIT_MARGIN_S (0.15 s) worth of its burst for the
    # spread of grant-to-arrival delays, so the emulator (which stamps arrival) sees at most
    # L + burst per second while that spread stays under 0.15 s: 24-25 measured on a quiet
    # machine. While the whole suite runs (load 5-10 on 2 cores) the spread can be larger;
    # allow 250 ms more. Celery's per-worker rate_limit reaches ~4 x L = 73-80 here.
    jitter = math.ceil(0.25 * limit)
    assert vbq.peak_window <= limit + burst + jitter
    # The 95 % bar is the benchmark's (2,000 submissions, BENCHMARKS.md); 100 submissions on a
    # loaded machine measured 18.9-19.7/s, so this smoke run only guards against a collapse.
    assert vbq.steady_rate >= 0.9 * limit
