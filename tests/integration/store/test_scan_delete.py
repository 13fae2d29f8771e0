"""Predicate-filtered listing (``JobStore.scan``) and deleting finished submissions."""

from __future__ import annotations

import json

import pytest
import redis

from vbq.errors import NotFoundError, StateConflictError
from vbq.spec import JobSpec
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission
from vbq.store.keys import VERTEX_DELETES_KEY
from vbq.store.scanning import ScanQuery

pytestmark = pytest.mark.integration


def new(i: int, tenant: str = "t1", **labels: str) -> NewSubmission:
    spec = JobSpec.from_sdk_kwargs(
        job_display_name=f"job-{i}",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source=f"gs://bkt/in-{i}.jsonl",
        gcs_destination_prefix="gs://bkt/out",
        labels={"n": str(i), **labels},
    )
    return NewSubmission(spec=spec, tenant=tenant, idempotency_key=f"k{i}")


def finish(store: JobStore, sid: str, job_name: str = "") -> None:
    updates = {"job_name": job_name, "job": {"name": job_name}} if job_name else None
    store.transition(sid, expected={S.ACCEPTED}, new_state=S.SUCCEEDED, updates=updates)


def test_scan_pages_through_the_smallest_index_with_a_predicate(store: JobStore) -> None:
    ids = [
        store.create(new(i, tenant="t1" if i % 3 else "t2", parity=str(i % 2)))[0].id
        for i in range(60)
    ]
    for sid in ids[:10]:
        store.transition(sid, expected={S.ACCEPTED}, new_state=S.RUNNING)
    even = ScanQuery(
        accept=lambda p: json.loads(p["labels"] or "{}").get("parity") == "0",
        fields=("labels",),
        tenant="t1",
        labels=[("parity", "0")],
    )
    seen: list[str] = []
    after = None
    while True:
        records, page = store.scan(even, page_size=7, after=after, max_examined=1000)
        assert page.index == "label"
        seen += [r.id for r in records]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    wanted = [sid for i, sid in enumerate(ids) if i % 3 and i % 2 == 0]
    assert seen == list(reversed(wanted))  # newest first, nothing twice, nothing missed
    running = ScanQuery(accept=lambda p: True, tenant="t1", states=[S.RUNNING, S.QUEUED])
    records, page = store.scan(running, page_size=100, after=None, max_examined=1000)
    assert {r.id for r in records} == {sid for i, sid in enumerate(ids[:10]) if i % 3}
    assert page.index == "states" and page.next_cursor is None


def test_scan_is_bounded(store: JobStore) -> None:
    for i in range(30):
        store.create(new(i))
    nothing = ScanQuery(accept=lambda p: False, tenant="t1")
    records, page = store.scan(nothing, page_size=5, after=None, max_examined=12)
    assert records == [] and page.examined == 12 and page.next_cursor is not None
    records, page = store.scan(nothing, page_size=5, after=page.next_cursor, max_examined=100)
    assert page.examined == 18 and page.next_cursor is None


def test_delete_removes_a_finished_submission_everywhere(store: JobStore, raw: redis.Redis) -> None:
    rec, _ = store.create(new(1, team="x"))
    with pytest.raises(StateConflictError):
        store.delete(rec.id)
    finish(store, rec.id, job_name="projects/p/locations/l/batchPredictionJobs/9")
    # Markers a finished submission may still own (a cancel request, a split's parts) go too.
    raw.set(f"vbq:cancel:{rec.id}", "1")
    raw.set(f"vbq:split:{rec.id}", "{}")
    raw.set(f"vbq:submit:unsent:{rec.id}", "1")
    with pytest.raises(NotFoundError):
        store.delete(rec.id, tenant="someone-else")
    deleted = store.delete(rec.id, tenant="t1")
    assert deleted.id == rec.id and deleted.state is S.SUCCEEDED
    with pytest.raises(NotFoundError):
        store.get(rec.id)
    leftovers = [
        k for k in raw.scan_iter("vbq:*") if raw.type(k) == "zset" and raw.zscore(k, rec.id)
    ]
    assert leftovers == []
    named = [k for k in raw.scan_iter("vbq:*") if rec.id in k]
    assert named == [f"vbq:deleted:{rec.id}"], named  # only the tombstone
    assert raw.get("vbq:idem:t1:k1") is None
    assert raw.zrange(VERTEX_DELETES_KEY, 0, -1) == ["projects/p/locations/l/batchPredictionJobs/9"]
    assert store.remover.deleted_by(rec.id) == "t1"
    with pytest.raises(NotFoundError):
        store.delete(rec.id)
    # The idempotency key is free again: the same key makes a new submission.
    again, created = store.create(new(1, team="x"))
    assert created and again.state is S.ACCEPTED


def test_delete_of_a_job_that_never_reached_vertex_queues_nothing(
    store: JobStore, raw: redis.Redis
) -> None:
    rec, _ = store.create(new(2))
    store.transition(rec.id, expected={S.ACCEPTED}, new_state=S.CANCELLED)
    store.delete(rec.id)
    assert raw.zcard(VERTEX_DELETES_KEY) == 0
