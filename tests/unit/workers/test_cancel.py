"""Cancel logic against in-memory fakes and a real Redis (the cancel flag)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.unit.workers.fakes import FakeLimiter, FakeStore, FakeVertex, Record
from vbq.errors import VertexPermanentError, VertexRetryableError
from vbq.settings import Settings
from vbq.states import SubmissionState as S
from vbq.workers.cancel import Canceller, cancel_requested

SETTINGS = Settings(project="proj", visibility_timeout_s=60)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def make(r: redis.Redis, rec: Record) -> tuple[Canceller, FakeStore, FakeVertex, FakeLimiter]:
    store, vertex, limiter = FakeStore(), FakeVertex(), FakeLimiter()
    store.add(rec)
    c = Canceller(
        store=store,
        vertex=vertex,
        limiter=limiter,
        redis_client=r,
        settings=SETTINGS,
        rng=random.Random(1),
    )
    return c, store, vertex, limiter


def test_accepted_is_cancelled_without_vertex(r: redis.Redis) -> None:
    sid = uuid.uuid4().hex
    c, store, vertex, _ = make(r, Record(id=sid))
    assert c.run(sid).action == "cancelled"
    assert store.get(sid).state is S.CANCELLED
    assert vertex.calls == []
    (event,) = store.events
    assert (event.type, event.previous_state, event.event_id) == (
        "job.cancelled",
        "ACCEPTED",
        f"{sid}:CANCELLED",
    )


def test_submitting_sets_the_flag_for_the_submit_path(r: redis.Redis) -> None:
    sid = uuid.uuid4().hex
    c, store, vertex, _ = make(r, Record(id=sid, state=S.SUBMITTING))
    assert c.run(sid).action == "requested"
    assert cancel_requested(r, sid)
    assert store.get(sid).state is S.SUBMITTING and vertex.calls == []


def test_submitted_is_cancelled_on_vertex(r: redis.Redis) -> None:
    sid = uuid.uuid4().hex
    name = "projects/proj/locations/us-central1/batchPredictionJobs/9"
    c, _, vertex, limiter = make(r, Record(id=sid, state=S.RUNNING, job_name=name))
    assert c.run(sid).action == "vertex_cancel"
    assert vertex.cancelled == [name] and limiter.taken == ["read"]


def test_vertex_cancel_retries_on_transient_error_and_gives_up_on_refusal(
    r: redis.Redis,
) -> None:
    sid = uuid.uuid4().hex
    name = "projects/proj/locations/us-central1/batchPredictionJobs/9"
    c, _, vertex, _ = make(r, Record(id=sid, state=S.PENDING, job_name=name))
    vertex.cancel_error = VertexRetryableError("busy", status_code=503, retry_after_s=4.0)
    out = c.run(sid)
    assert out.action == "retry" and 4.0 <= out.countdown_s <= 30.0
    vertex.cancel_error = VertexPermanentError("finished", status_code=400)
    assert c.run(sid).action == "noop"


def test_finished_is_a_noop(r: redis.Redis) -> None:
    sid = uuid.uuid4().hex
    c, _, vertex, _ = make(r, Record(id=sid, state=S.SUCCEEDED, job_name="x"))
    assert c.run(sid).action == "noop"
    assert vertex.calls == [] and not cancel_requested(r, sid)
