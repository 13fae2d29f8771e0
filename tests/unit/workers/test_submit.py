"""Submit logic against in-memory fakes and a real Redis (lock, cancel flag)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.unit.workers.fakes import (
    FakeLimiter,
    FakeSlots,
    FakeStore,
    FakeVertex,
    Record,
)
from vbq.errors import VertexAmbiguousError, VertexPermanentError, VertexRetryableError
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.states import SubmissionState as S
from vbq.workers.cancel import request_cancel
from vbq.workers.submit import Submitter, label_filter

SETTINGS = Settings(
    project="proj", max_attempts=3, retry_base_s=1.0, retry_max_s=100.0, visibility_timeout_s=60
)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


class World:
    def __init__(self, r: redis.Redis, settings: Settings = SETTINGS) -> None:
        self.store = FakeStore()
        self.vertex = FakeVertex()
        self.limiter = FakeLimiter()
        self.slots = FakeSlots()
        self.redis = r
        self.sub = Submitter(
            store=self.store,
            vertex=self.vertex,
            limiter=self.limiter,
            slots=self.slots,
            redis_client=r,
            settings=settings,
            rng=random.Random(7),
        )
        self.id = uuid.uuid4().hex
        self.store.add(Record(id=self.id))

    @property
    def rec(self) -> Record:
        return self.store.get(self.id)


@pytest.fixture
def w(r: redis.Redis) -> World:
    return World(r)


def test_happy_path_creates_one_labelled_job_and_records_submitted(w: World) -> None:
    out = w.sub.run(w.id)
    assert out.action == "submitted"
    assert len(w.vertex.jobs) == 1
    job = w.vertex.jobs[0]
    assert job["labels"] == {"team": "a", "vbq-submission": w.id}
    assert w.rec.state is S.SUBMITTED
    assert w.rec.job_name == job["name"] == out.job_name
    assert w.rec.attempts == 1
    assert [e.type for e in w.store.events] == ["job.submitted"]
    assert w.store.events[0].event_id == f"{w.id}:SUBMITTED"
    assert w.store.events[0].previous_state == "SUBMITTING"
    assert w.id in w.slots.held and w.id not in w.slots.leased
    assert w.limiter.taken == ["create"]


@pytest.mark.parametrize("state", [S.SUBMITTED, S.RUNNING, S.CANCELLED, S.REJECTED, S.SUCCEEDED])
def test_redelivery_after_the_fact_is_a_noop(w: World, state: S) -> None:
    w.store.add(Record(id=w.id, state=state))
    assert w.sub.run(w.id).action == "noop"
    assert w.vertex.calls == []


def test_unknown_submission_is_a_noop(w: World) -> None:
    assert w.sub.run(uuid.uuid4().hex).action == "noop"


def test_rate_limited_waits_without_counting_an_attempt(w: World) -> None:
    w.limiter.deny["create"] = 2.5
    out = w.sub.run(w.id)
    assert out.action == "retry" and out.reason == "rate_limited"
    assert 2.5 <= out.countdown_s <= SETTINGS.visibility_timeout_s / 2
    assert w.rec.state is S.ACCEPTED and w.rec.attempts == 0
    assert w.vertex.calls == []
    assert w.id not in w.slots.leased  # not held while waiting


def test_waiters_spread_over_the_backlog(w: World) -> None:
    # 600 ACCEPTED at 60/min: the waiters spread over ~600 s, capped at visibility/2.
    w.redis.zadd("vbq:idx:state:ACCEPTED", {f"x{i}": i for i in range(600)})
    w.limiter.deny["create"] = 0.1
    waits = [w.sub.run(w.id).countdown_s for _ in range(30)]
    assert max(waits) <= SETTINGS.visibility_timeout_s / 2
    assert max(waits) - min(waits) > 5.0  # spread, not a stampede at 0.1 s


def test_no_slot_waits_without_calling_vertex(w: World) -> None:
    w.slots.capacity = 0
    out = w.sub.run(w.id)
    assert out.action == "retry" and out.reason == "no_slot"
    assert w.vertex.calls == [] and w.limiter.taken == []


def test_ambiguous_create_is_reconciled_by_listing_not_recreated(w: World) -> None:
    w.vertex.script = [VertexAmbiguousError("reset", status_code=0)]
    w.vertex.created_but_error = {1}
    first = w.sub.run(w.id)
    assert first.action == "retry"
    assert w.rec.state is S.SUBMITTING
    assert w.rec.last_error == "reset"
    second = w.sub.run(w.id)
    assert second.action == "adopted"
    assert w.vertex.calls == ["create", "list"]
    assert len(w.vertex.jobs) == 1
    assert w.rec.state is S.SUBMITTED and w.rec.job_name == w.vertex.jobs[0]["name"]
    assert "read" in w.limiter.taken


def test_ambiguous_without_a_job_creates_again_after_listing(w: World) -> None:
    w.vertex.script = [VertexAmbiguousError("timeout")]
    assert w.sub.run(w.id).action == "retry"
    assert w.sub.run(w.id).action == "submitted"
    assert w.vertex.calls == ["create", "list", "create"]
    assert len(w.vertex.jobs) == 1
    assert w.rec.attempts == 2


def test_reconcile_waits_for_a_read_token(w: World) -> None:
    w.store.add(Record(id=w.id, state=S.SUBMITTING, attempts=1))
    w.limiter.deny["read"] = 1.0
    out = w.sub.run(w.id)
    assert out.action == "retry" and out.reason == "read_rate_limited"
    assert w.vertex.calls == []


def test_list_filter_names_the_label() -> None:
    assert label_filter("ab" * 16) == f'labels.vbq-submission="{"ab" * 16}"'


def test_retryable_error_backs_off_then_succeeds(w: World) -> None:
    w.vertex.script = [VertexRetryableError("busy", status_code=503, retry_after_s=7.0)]
    out = w.sub.run(w.id)
    assert out.action == "retry"
    assert 7.0 <= out.countdown_s <= 30.0
    assert w.id not in w.slots.leased
    assert w.sub.run(w.id).action == "submitted"
    assert len(w.vertex.jobs) == 1
    assert w.vertex.calls == ["create", "create"]  # certainly not applied: no reconcile list


def test_a_crash_after_a_retryable_error_still_reconciles(w: World) -> None:
    w.vertex.script = [VertexRetryableError("busy", status_code=503)]
    w.sub.run(w.id)
    assert w.redis.exists(f"vbq:submit:unsent:{w.id}")
    # The next attempt forgets "unsent" before its create; if it dies mid-create, the one
    # after that must list first.
    w.vertex.script = [VertexAmbiguousError("reset")]
    w.vertex.created_but_error = {2}
    w.sub.run(w.id)
    assert not w.redis.exists(f"vbq:submit:unsent:{w.id}")
    assert w.sub.run(w.id).action == "adopted"
    assert w.vertex.calls == ["create", "create", "list"]
    assert len(w.vertex.jobs) == 1


def test_retry_budget_exhaustion_rejects_with_event_carrying_the_error(w: World) -> None:
    w.vertex.script = [
        VertexRetryableError(f"quota {i}", status_code=429, status="RESOURCE_EXHAUSTED")
        for i in range(SETTINGS.max_attempts)
    ]
    outcomes = [w.sub.run(w.id).action for _ in range(SETTINGS.max_attempts)]
    assert outcomes == ["retry"] * (SETTINGS.max_attempts - 1) + ["rejected"]
    assert w.rec.state is S.REJECTED
    assert w.rec.last_error == f"quota {SETTINGS.max_attempts - 1}"
    (event,) = w.store.events
    assert event.type == "job.rejected" and event.state == "REJECTED"
    assert event.job == {
        "error": {
            "message": f"quota {SETTINGS.max_attempts - 1}",
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    assert w.slots.leased == set() and w.slots.held == set()
    assert len(w.vertex.jobs) == 0


def test_permanent_error_rejects_with_googles_message(w: World) -> None:
    msg = "Invalid value at 'batch_prediction_job.input_config'"
    w.vertex.script = [VertexPermanentError(msg, status_code=400, status="INVALID_ARGUMENT")]
    out = w.sub.run(w.id)
    assert out.action == "rejected"
    assert w.rec.state is S.REJECTED and w.rec.last_error == msg
    assert w.store.events[0].type == "job.rejected"
    assert w.store.events[0].job is not None
    assert w.store.events[0].job["error"]["message"] == msg
    assert w.slots.leased == set()


def test_cancel_requested_before_create_cancels_without_vertex(w: World) -> None:
    request_cancel(w.redis, w.id)
    assert w.sub.run(w.id).action == "cancelled"
    assert w.vertex.calls == []
    assert w.rec.state is S.CANCELLED
    assert [e.type for e in w.store.events] == ["job.cancelled"]


def test_cancel_arriving_during_create_hands_the_new_job_to_the_cancel_task(w: World) -> None:
    w.vertex.on_create = lambda: request_cancel(w.redis, w.id)
    out = w.sub.run(w.id)
    assert out.action == "submitted"
    assert out.cancel_follows, "the task must enqueue vbq.cancel for the job that now exists"
    assert w.vertex.cancelled == []  # done by the cancel task, under the read limit
    assert w.rec.state is S.SUBMITTED


def test_plain_submit_needs_no_cancel(w: World) -> None:
    assert not w.sub.run(w.id).cancel_follows


def test_a_5xx_answer_to_a_create_is_reconciled_before_any_new_create(w: World) -> None:
    # Google "may have completed" a create answered 500/502/504: never skip the label list.
    w.vertex.script = [VertexRetryableError("internal", status_code=500, status="INTERNAL")]
    out = w.sub.run(w.id)
    assert out.action == "retry"
    assert not w.redis.exists(f"vbq:submit:unsent:{w.id}")
    assert w.id in w.slots.leased  # the slot stays: the job may exist


def test_a_second_copy_waits_while_the_first_holds_the_lock(w: World) -> None:
    w.redis.set(f"vbq:lock:submit:{w.id}", "someone-else", px=10_000)
    out = w.sub.run(w.id)
    assert out.action == "retry" and out.reason == "locked"
    assert w.vertex.calls == []
    assert w.redis.get(f"vbq:lock:submit:{w.id}") == "someone-else"


def test_lock_is_released_after_an_attempt(w: World) -> None:
    w.sub.run(w.id)
    assert w.redis.exists(f"vbq:lock:submit:{w.id}") == 0


def test_a_slot_lost_during_a_slow_create_is_taken_again_for_the_job(w: World) -> None:
    # The short lease expired mid-create and was reaped: the job exists, so it must count.
    w.vertex.on_create = lambda: w.slots.leased.discard(w.id)
    assert w.sub.run(w.id).action == "submitted"
    assert w.id in w.slots.held


def test_a_spec_googles_types_refuse_is_rejected_not_retried(w: World) -> None:
    # Built without validation: a label value Google's message type refuses. The body is only
    # built in the worker, so this must end as REJECTED with an event, never as a task that
    # raises and is swept back forever.
    bad = JobSpec(
        model_name="4",
        project="my-project",
        gcs_source=("gs://in-bucket/x.jsonl",),
        gcs_destination_prefix="gs://out-bucket/y",
        labels={"team": 1},  # type: ignore[dict-item]
    )
    w.store.add(Record(id=w.id, spec=bad))
    out = w.sub.run(w.id)
    assert out.action == "rejected"
    assert w.rec.state is S.REJECTED
    assert w.rec.last_error is not None
    assert "BatchPredictionJob" in w.rec.last_error and "labels" in w.rec.last_error
    assert [e.type for e in w.store.events] == ["job.rejected"]
    assert w.vertex.calls == [] and w.limiter.taken == []


def _queued_hash(w: World) -> str:
    """Write the hash fields create.lua leaves on a queued record (the requeue script reads
    them); returns its queue key."""
    w.redis.hset(
        f"vbq:sub:{w.id}",
        mapping={
            "state": "ACCEPTED",
            "project": w.rec.project,
            "location": w.rec.location,
            "tenant": w.rec.tenant,
            "priority": "bulk",
            "qseq": "42",
        },
    )
    return f"vbq:sched:queue:{w.rec.project}:{w.rec.location}:{w.rec.tenant}:bulk"


def test_a_queued_submission_that_must_wait_goes_back_to_its_place(w: World) -> None:
    queue = _queued_hash(w)
    w.limiter.deny["create"] = 2.5
    out = w.sub.run(w.id)
    assert out.action == "noop" and out.reason == "requeued: rate_limited"  # no countdown
    assert out.keeps_due_mark  # its next dispatch may have marked it already
    assert w.redis.zscore(queue, w.id) == 42  # its arrival number: its place in line
    assert w.redis.zscore(f"vbq:sched:active:{w.rec.project}:{w.rec.location}", "t1") == 0
    assert w.id not in w.slots.leased and w.vertex.calls == []
    w.redis.zrem(queue, w.id)
    w.limiter.deny.clear()
    w.slots.capacity = 0
    assert w.sub.run(w.id).reason == "requeued: no_slot"
    assert w.redis.zscore(queue, w.id) == 42


def test_a_dispatcher_grant_replaces_the_create_token(w: World) -> None:
    w.redis.set(f"vbq:sched:grant:{w.id}", "1", px=5000)
    w.limiter.deny["create"] = 2.5  # the limiter would refuse: the grant is the token
    assert w.sub.run(w.id).action == "submitted"
    assert w.limiter.taken == [] and not w.redis.exists(f"vbq:sched:grant:{w.id}")
