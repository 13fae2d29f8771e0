"""The scheduler end to end: `vbq worker` processes (their dispatcher thread) and the Vertex
emulator; producers only write the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from tests.integration.producers.conftest import broker_messages, queued_ids
from tests.integration.workers.harness import (
    EmulatorProc,
    jobs_per_submission,
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


def test_fair_dispatch_cancel_of_a_queued_one_and_no_broker_churn(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    env = worker_env(
        redis_url, emulator.url, VBQ_CREATE_RATE_PER_MIN="600", VBQ_CREATE_BURST="1"
    )  # 10 creates/s
    settings = settings_from(env)
    client = Client.from_settings(settings)
    flood = client.submit_many([_kwargs(i) for i in range(40)], tenant="a", priority="bulk")
    late = client.submit_many([_kwargs(i) for i in range(3)], tenant="b", priority="interactive")
    a_ids = [x.submission_id for x in flood.accepted]
    b_ids = [x.submission_id for x in late.accepted]
    cancelled = a_ids[-1]
    client.cancel(cancelled)  # queued: the cancel task removes it from its queue
    assert broker_messages(redis_url, "vbq.submit") == []  # producers publish no submits
    procs += start_workers(2, env, log_dir, queues="vbq.submit,vbq.cancel,vbq.maintenance")
    store = JobStore.from_settings(settings)
    wanted = [*a_ids[:-1], *b_ids]
    wait_until(
        lambda: all(st is S.SUBMITTED for st in states(store, wanted).values()),
        timeout_s=60,
        what="all SUBMITTED",
    )
    assert store.get(cancelled).state is S.CANCELLED
    assert queued_ids(redis_url) == []
    assert sorted(jobs_per_submission(emulator.jobs())) == sorted(wanted)  # one job each
    # b arrived behind 40 of a's but was created among the first few.
    order = sorted(wanted, key=lambda sid: store.get(sid).submitted_at or 0.0)
    assert max(order.index(sid) for sid in b_ids) < 10, order
    # Events carry the submission's priority (request.priority), so subscribers can tell
    # interactive from bulk work.
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    events = [json.loads(fields["event"]) for _, fields in r.xrange("vbq:outbox")]
    r.close()
    priority_of = {
        e["submission_id"]: e["request"]["priority"] for e in events if e["type"] == "job.submitted"
    }
    assert priority_of == {
        **dict.fromkeys(a_ids[:-1], "bulk"),
        **dict.fromkeys(b_ids, "interactive"),
    }
    (cancel_event,) = [e for e in events if e["type"] == "job.cancelled"]
    assert cancel_event["request"]["priority"] == "bulk"
    client.close()
    store.close()


def _kwargs(i: int) -> dict[str, object]:
    return {
        "job_display_name": f"job-{i}",
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": f"gs://vbq-test-in/batch-{i}.jsonl",
        "gcs_destination_prefix": "gs://vbq-test-out/results",
    }
