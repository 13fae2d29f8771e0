"""Two regions end to end: real `vbq worker` processes, Redis and the Vertex emulator. One
region answers 429 to every create; submissions that allow both all run in the other, within
its own rate (issue 17, several regions; docs/contracts.md § Placement)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import redis

from tests.integration.scheduler.test_workers import _kwargs
from tests.integration.workers.harness import (
    EmulatorProc,
    jobs_per_submission,
    logs_tail,
    settings_from,
    start_workers,
    states,
    wait_until,
    worker_env,
)
from tests.support.services import ManagedProcess
from vbq.producers import Client
from vbq.states import SubmissionState as S
from vbq.store import JobStore

pytestmark = [pytest.mark.integration]

BUSY, FREE = "europe-west4", "us-central1"
N = 30
FREE_RATE_PER_S = 5  # us-central1's own create rate (VBQ_LOCATION_LIMITS)
BURST = 1


def _peak_per_window(times: list[float], window_s: float = 1.0) -> int:
    """Most entries in any half-open window [t, t + window_s)."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_a_region_refusing_every_create_leaves_all_to_the_other_within_its_rate(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    emulator.http.post(
        "/_emulator/throttle", json={"location": BUSY, "limit_per_s": 0}
    ).raise_for_status()
    env = worker_env(
        redis_url,
        emulator.url,
        VBQ_LOCATIONS=f"{FREE},{BUSY}",
        VBQ_CREATE_RATE_PER_MIN="600",  # 10/s where no override says otherwise
        VBQ_CREATE_BURST=str(BURST),
        VBQ_LOCATION_LIMITS=json.dumps({FREE: {"create_rate_per_min": FREE_RATE_PER_S * 60}}),
        VBQ_MAX_ATTEMPTS="8",
    )
    settings = settings_from(env)
    client = Client.from_settings(settings)
    result = client.submit_many([_kwargs(i) for i in range(N)], locations=[BUSY, FREE])
    assert not result.errors
    ids = [a.submission_id for a in result.accepted]
    store = JobStore.from_settings(settings)
    assert {rec.location for rec in store.get_many(ids)} == {BUSY}  # the first, until placed
    procs += start_workers(2, env, log_dir, queues="vbq.submit,vbq.cancel,vbq.maintenance")
    wait_until(
        lambda: all(st is S.SUBMITTED for st in states(store, ids).values()),
        timeout_s=90,
        what="all SUBMITTED",
        on_timeout=lambda: f"{states(store, ids)}\n{logs_tail(procs)}",
    )

    records = store.get_many(ids)
    assert {rec.location for rec in records} == {FREE}
    assert all(f"/locations/{FREE}/" in (rec.job_name or "") for rec in records)
    assert sorted(jobs_per_submission(emulator.jobs())) == sorted(ids)  # one job each
    assert all(count == 1 for count in jobs_per_submission(emulator.jobs()).values())
    creates = [e for e in emulator.requests() if e["method"] == "create"]
    refused = [e for e in creates if e["location"] == BUSY]
    ran = [e for e in creates if e["location"] == FREE]
    assert refused and all(e["status"] == 429 for e in refused)  # it was tried there
    assert len(ran) == N and all(e["status"] == 200 for e in ran)
    # Within the free region's own rate (5/s, not the global 10/s) as Google counts it: rate +
    # burst per 1 s window while grant-to-arrival delays vary by less than the limiter's margin
    # (0.15 s; 6 measured on a quiet machine). A loaded machine (the whole suite on 2 cores)
    # spreads them more: 250 ms more allowed, as test_bench_ratelimit does; the global rate
    # would allow 11.
    arrivals = [e["t"] for e in ran]
    jitter = math.ceil(0.25 * FREE_RATE_PER_S)
    assert _peak_per_window(arrivals) <= FREE_RATE_PER_S + BURST + jitter
    # And at its rate over the whole run: N creates need (N - bar) / rate seconds at least.
    bar = FREE_RATE_PER_S + BURST
    assert max(arrivals) - min(arrivals) >= (N - bar) / FREE_RATE_PER_S - 0.3
    retried = [rec for rec in records if rec.attempts > 1]
    assert len(retried) == len(refused)  # each refused one was placed again, then ran

    # Status and events say where it ran.
    assert client.get(ids[0]).to_dict()["location"] == FREE
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    events = [json.loads(fields["event"]) for _, fields in r.xrange("vbq:outbox")]
    submitted = [e for e in events if e["type"] == "job.submitted"]
    r.close()
    assert sorted(e["submission_id"] for e in submitted) == sorted(ids)
    assert {e["request"]["location"] for e in submitted} == {FREE}
    client.close()
    store.close()
