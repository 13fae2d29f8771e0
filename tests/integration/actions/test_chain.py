"""chain(): a redelivered event submits its follow-up once (real Redis store and broker)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.integration.actions.helpers import CUSTOM, GEMINI, event_for, run_job
from tests.integration.emulators.helpers import new_bucket, upload_jsonl
from tests.support.emulators import VertexEmulator
from tests.unit.subscribers.fakes import FakeMessage
from vbq.errors import IdempotencyConflictError, OutputsError
from vbq.events import JobEvent
from vbq.producers import Client
from vbq.settings import Settings
from vbq.store import JobStore
from vbq.subscribers import HandlerRegistry, Subscriber
from vbq.subscribers.actions import Chain, chain, from_outputs

pytestmark = pytest.mark.integration


def _stored(url: str) -> list[str]:
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        return sorted(k.removeprefix("vbq:sub:") for k in r.scan_iter("vbq:sub:*"))
    finally:
        r.close()


def _queued(url: str) -> int:
    """Submissions waiting in the scheduler's queues (producers queue, workers dispatch)."""
    r = redis.Redis.from_url(url)
    try:
        return sum(int(r.zcard(k)) for k in r.scan_iter("vbq:sched:queue:*"))
    finally:
        r.close()


@pytest.fixture
def client(redis_url: str) -> Client:
    settings = Settings(project="test-project", redis_url=redis_url)
    return Client(settings=settings, store=JobStore.from_settings(settings))


@pytest.fixture
def stage1(vertex_emulator: VertexEmulator, storage_client: Any) -> JobEvent:
    bucket = new_bucket(storage_client)
    uri = upload_jsonl(bucket, "in/s1.jsonl", [{"x": i} for i in range(3)])
    job = run_job(vertex_emulator, model=CUSTOM, uris=[uri], prefix=f"gs://{bucket.name}/s1")
    return event_for(job, metadata={"team": "ml"})


def _build(event: JobEvent) -> dict[str, Any]:
    return from_outputs(
        event,
        model_name=GEMINI,
        gcs_destination_prefix="gs://vbq-out/stage2",
        job_display_name="stage2",
        metadata={"why": "test"},
    )


def test_redelivered_event_submits_one_follow_up(
    redis_url: str, client: Client, stage1: JobEvent
) -> None:
    first = chain(stage1, _build, stage="stage2", client=client)
    again = chain(stage1, _build, stage="stage2", client=client)  # the redelivery
    assert first is not None and again is not None
    assert first.created and not again.created
    assert again.submission_id == first.submission_id
    assert _stored(redis_url) == [first.submission_id]
    assert _queued(redis_url) == 1  # queued once for the workers' dispatcher

    record = client.store.get(first.submission_id)
    assert record.idempotency_key == f"chain:{stage1.event_id}:stage2"
    assert record.tenant == stage1.request.tenant
    assert record.metadata == {
        "why": "test",
        "parent_submission_id": stage1.submission_id,
        "parent_event_id": stage1.event_id,
        "chain_stage": "stage2",
        "chain_root_submission_id": stage1.submission_id,
    }
    directory = stage1.job["outputInfo"]["gcsOutputDirectory"]  # type: ignore[index]
    assert record.spec.gcs_source == (f"{directory}/predictions*.jsonl",)

    # Another stage of the same event is another follow-up.
    other = chain(stage1, _build, stage="stage2b", client=client)
    assert other is not None and other.submission_id != first.submission_id
    assert len(_stored(redis_url)) == 2


def test_two_subscriber_groups_handling_the_same_event_submit_once(
    redis_url: str, client: Client, stage1: JobEvent
) -> None:
    settings = Settings(project="test-project", redis_url=redis_url)
    registry = HandlerRegistry()
    registry.add(Chain(build=_build, stage="stage2", client=client), "job.succeeded")
    r = redis.Redis.from_url(redis_url)
    # Two groups do not share an inbox: each runs the handler (like a crash after submit
    # followed by a redelivery); the idempotency key keeps it to one follow-up.
    for group in ("g1", "g2", "g1"):
        sub = Subscriber(settings=settings, redis=r, registry=registry, group=group)
        message = FakeMessage(data=stage1.to_bytes(), attributes=stage1.attributes())
        sub.handle_message(message)
        assert message.outcome == "ack"
    assert len(_stored(redis_url)) == 1


def test_build_may_decline_and_bad_parents_are_refused(
    redis_url: str, client: Client, stage1: JobEvent
) -> None:
    assert chain(stage1, lambda e: None, client=client) is None
    failed = JobEvent.create(
        type="job.failed", submission_id="e" * 32, state="FAILED", previous_state="RUNNING",
        job={"state": "JOB_STATE_FAILED"},
    )  # fmt: skip
    with pytest.raises(OutputsError):
        chain(failed, _build, stage="stage2", client=client)
    first = chain(stage1, _build, stage="s", client=client)
    assert first is not None

    def different(event: JobEvent) -> dict[str, Any]:
        return {**_build(event), "job_display_name": "changed"}

    with pytest.raises(IdempotencyConflictError):
        chain(stage1, different, stage="s", client=client)
    assert len(_stored(redis_url)) == 1
