"""The metric helpers move the metrics they name (read back from the default registry)."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from vbq import metrics


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_vertex_call_counts_by_method_and_status_and_times_it() -> None:
    labels = {"method": "create", "status": "429"}
    before = _value("vbq_vertex_api_calls_total", labels)
    before_n = _value("vbq_vertex_api_call_duration_seconds_count", {"method": "create"})
    metrics.observe_vertex_call("create", 429, 0.2)
    metrics.observe_vertex_call("create", 429, 0.3)
    assert _value("vbq_vertex_api_calls_total", labels) == before + 2
    after_n = _value("vbq_vertex_api_call_duration_seconds_count", {"method": "create"})
    assert after_n == before_n + 2


def test_rate_limit_wait_counts_and_observes_the_wait() -> None:
    before = _value("vbq_rate_limit_waits_total", {"kind": "read"})
    before_sum = _value("vbq_rate_limit_wait_seconds_sum", {"kind": "read"})
    metrics.observe_rate_limit_wait("read", 1.5)
    assert _value("vbq_rate_limit_waits_total", {"kind": "read"}) == before + 1
    assert _value("vbq_rate_limit_wait_seconds_sum", {"kind": "read"}) == pytest.approx(
        before_sum + 1.5
    )


def test_submitted_observes_latency_since_acceptance() -> None:
    before_sum = _value("vbq_submit_latency_seconds_sum")
    before = _value("vbq_submissions_submitted_total", {"tenant": "t9", "via": "adopted"})
    metrics.observe_submitted(accepted_at_s=time.time() - 4.0, tenant="t9", via="adopted")
    assert _value("vbq_submit_latency_seconds_sum") - before_sum == pytest.approx(4.0, abs=0.5)
    assert _value("vbq_submissions_submitted_total", {"tenant": "t9", "via": "adopted"}) == (
        before + 1
    )


def test_poll_cycle_observes_duration_and_calls() -> None:
    before = _value("vbq_poll_calls_per_cycle_sum")
    metrics.observe_poll_cycle(duration_s=0.1, api_calls=7)
    assert _value("vbq_poll_calls_per_cycle_sum") == before + 7


def test_time_handler_counts_runs_and_failures() -> None:
    labels = {"handler": "mod:fn"}
    runs, fails = (
        _value("vbq_handler_runs_total", labels),
        _value("vbq_handler_failures_total", labels),
    )
    with metrics.time_handler("mod:fn"):
        pass
    with pytest.raises(ValueError), metrics.time_handler("mod:fn"):
        raise ValueError("boom")
    assert _value("vbq_handler_runs_total", labels) == runs + 2
    assert _value("vbq_handler_failures_total", labels) == fails + 1
    assert _value("vbq_handler_duration_seconds_count", labels) >= 2
