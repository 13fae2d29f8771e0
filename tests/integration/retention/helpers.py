"""Making finished submissions the way the workers and subscribers leave them."""

from __future__ import annotations

import json
from typing import Any

import redis

from vbq.events import JobEvent
from vbq.spec import JobSpec
from vbq.states import SubmissionState as S
from vbq.stats import record_handled
from vbq.store import JobStore, NewSubmission


def new(i: int, tenant: str = "t1") -> NewSubmission:
    spec = JobSpec.from_sdk_kwargs(
        job_display_name=f"Job-{i}",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source=f"gs://bkt/in-{i}.jsonl",
        gcs_destination_prefix="gs://bkt/out",
        labels={"n": str(i), "team": "x"},
    )
    return NewSubmission(
        spec=spec, tenant=tenant, idempotency_key=f"k{i}", metadata={"i": i, "tag": "m"}
    )


def run_to_success(store: JobStore, raw: redis.Redis, i: int, tenant: str = "t1") -> str:
    """Create, submit, run and finish one submission; a subscriber group handles its
    finished event (inbox mark + timeline), and markers a submit/cancel leaves are set."""
    rec, _ = store.create(new(i, tenant))
    sid = rec.id
    job_name = f"projects/proj-a/locations/us-central1/batchPredictionJobs/{1000 + i}"
    store.transition(
        sid,
        expected={S.ACCEPTED},
        new_state=S.SUBMITTED,
        updates={"job_name": job_name, "job": {"name": job_name}},
    )
    store.transition(sid, expected={S.SUBMITTED}, new_state=S.RUNNING)
    raw.set(f"vbq:cancel:{sid}", "1", ex=3600)
    raw.set(f"vbq:stale:{sid}", "1")
    raw.set(f"vbq:submit:unsent:{sid}", "1", ex=3600)
    raw.zadd("vbq:submit:due", {sid: 1.0})
    event = JobEvent.create(
        type="job.succeeded",
        submission_id=sid,
        state=S.SUCCEEDED.value,
        previous_state=S.RUNNING.value,
        job={"name": job_name, "state": "JOB_STATE_SUCCEEDED"},
        tenant=tenant,
    )
    store.transition(
        sid,
        expected={S.RUNNING},
        new_state=S.SUCCEEDED,
        updates={"job": {"name": job_name, "state": "JOB_STATE_SUCCEEDED"}},
        event=event,
    )
    pipe = raw.pipeline(transaction=True)
    pipe.set(f"vbq:inbox:g1:{sid}:SUCCEEDED", "done", ex=7 * 86400)
    record_handled(pipe, group="g1", event_id=f"{sid}:SUCCEEDED")
    pipe.execute()
    return sid


def all_keys(raw: redis.Redis) -> set[str]:
    return {str(k) for k in raw.scan_iter("*", count=1000)}


def places_naming(raw: redis.Redis, sid: str) -> list[str]:
    """Every key whose name, or a member / field / element of it, names ``sid``."""
    found = []
    for key in all_keys(raw):
        if sid in key:
            found.append(key)
            continue
        kind = raw.type(key)
        values: Any
        if kind == "zset":
            values = raw.zrange(key, 0, -1)
        elif kind == "set":
            values = raw.smembers(key)
        elif kind == "hash":
            values = list(raw.hgetall(key).items())
        elif kind == "list":
            values = raw.lrange(key, 0, -1)
        elif kind == "string":
            values = [raw.get(key)]
        elif kind == "stream":
            values = [json.dumps(e) for e in raw.xrange(key)]
        else:
            values = []
        if any(sid in json.dumps(v) for v in values):
            found.append(key)
    return sorted(found)
