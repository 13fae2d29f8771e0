"""Client against a real Redis: store writes, broker messages, idempotency, batches."""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.producers.conftest import (
    PROJECT,
    broker_messages,
    stored_ids,
    submitted_ids,
    valid_kwargs,
)
from tests.support.services import free_port
from vbq.errors import IdempotencyConflictError, NotFoundError, SpecError, StateConflictError
from vbq.producers import Client
from vbq.settings import Settings
from vbq.states import SubmissionState

pytestmark = pytest.mark.integration


def test_submit_stores_then_enqueues(client: Client, redis_url: str) -> None:
    sub = client.submit(**valid_kwargs(1), metadata={"ticket": 7}, tenant="team-a")
    assert len(sub.submission_id) == 32
    assert sub.created
    assert stored_ids(redis_url) == {sub.submission_id}
    assert submitted_ids(redis_url) == [sub.submission_id]
    assert sub.state is SubmissionState.ACCEPTED
    assert not sub.done()
    assert sub.display_name == "job-1"
    assert sub.labels == {"team": "ml", "n": "1"}
    assert sub.metadata == {"ticket": 7}
    assert sub.tenant == "team-a"
    assert sub.resource_name is None and sub.name is None and sub.create_time is None
    assert sub.completion_stats is None and sub.error is None and sub.partial_failures == []
    d = sub.to_dict()
    assert d["state"] == "ACCEPTED" and d["project"] == PROJECT
    assert d["request"]["job_display_name"] == "job-1"


def test_invalid_spec_writes_and_sends_nothing(client: Client, redis_url: str) -> None:
    kwargs = valid_kwargs(2)
    kwargs["gcs_source"] = "http://not-gcs"
    kwargs["machine_type"] = 42
    with pytest.raises(SpecError) as info:
        client.submit(**kwargs)
    assert "gcs_source" in info.value.fields
    assert "machine_type" in info.value.fields
    with pytest.raises(SpecError) as info:
        client.submit(**valid_kwargs(3), tenant="Not A Tenant", metadata=[1])  # type: ignore[arg-type]
    assert {"tenant", "metadata"} <= set(info.value.fields)
    with pytest.raises(SpecError) as info:
        client.submit(**valid_kwargs(3), cls="x", self="y")
    assert "cls" in info.value.fields
    assert stored_ids(redis_url) == set()
    assert broker_messages(redis_url, "vbq.submit") == []


def test_missing_project_is_refused_at_submit(redis_url: str) -> None:
    settings = Settings.from_env({"VBQ_REDIS_URL": redis_url})
    with Client.from_settings(settings) as client, pytest.raises(SpecError) as info:
        client.submit(**valid_kwargs(4))
    assert "project" in info.value.fields
    assert stored_ids(redis_url) == set()


def test_idempotent_resubmit(client: Client, redis_url: str) -> None:
    first = client.submit(**valid_kwargs(5), idempotency_key="order-5")
    again = client.submit(**valid_kwargs(5), idempotency_key="order-5")
    assert again.submission_id == first.submission_id
    assert first.created and not again.created
    # Stored and queued in one Lua call: the replay queues nothing more.
    assert submitted_ids(redis_url) == [first.submission_id]
    client.store.transition(  # type: ignore[attr-defined]
        first.submission_id,
        expected={SubmissionState.ACCEPTED},
        new_state=SubmissionState.SUBMITTING,
    )
    third = client.submit(**valid_kwargs(5), idempotency_key="order-5")
    assert third.submission_id == first.submission_id
    assert submitted_ids(redis_url) == []  # left its queue when a worker took it; not re-queued
    # Another tenant with the same key gets its own submission.
    other = client.submit(**valid_kwargs(5), idempotency_key="order-5", tenant="other")
    assert other.submission_id != first.submission_id
    with pytest.raises(IdempotencyConflictError):
        client.submit(**valid_kwargs(6), idempotency_key="order-5")


def test_submit_many_reports_bad_items_and_writes_the_rest(client: Client, redis_url: str) -> None:
    items = [valid_kwargs(i) for i in range(100)]
    items[37]["gcs_source"] = "s3://wrong/place"
    progress: list[int] = []
    result = client.submit_many(items, batch_size=30, on_progress=progress.append)
    assert not result.ok
    assert [e.index for e in result.errors] == [37]
    assert result.errors[0].fields == ["gcs_source"]
    assert len(result.accepted) == 99
    assert 37 not in {r.index for r in result.accepted}
    assert stored_ids(redis_url) == set(result.ids)
    assert sorted(submitted_ids(redis_url)) == sorted(result.ids)
    assert sum(progress) == 100


def test_submit_many_atomic_writes_nothing_on_any_error(client: Client, redis_url: str) -> None:
    items = [valid_kwargs(i) for i in range(100)]
    items[99] = {**items[99], "labels": {"vbq-submission": "mine"}}
    result = client.submit_many(items, atomic=True)
    assert [e.index for e in result.errors] == [99]
    assert result.accepted == ()
    assert stored_ids(redis_url) == set()
    assert broker_messages(redis_url, "vbq.submit") == []
    good = client.submit_many(items[:99], atomic=True)
    assert good.ok and len(good.ids) == 99 == len(stored_ids(redis_url))


def test_submit_many_item_options_and_conflicts(client: Client, redis_url: str) -> None:
    items = [
        {**valid_kwargs(1), "idempotency_key": "k1", "tenant": "t1", "metadata": {"a": 1}},
        {**valid_kwargs(1), "idempotency_key": "k1", "tenant": "t1"},  # same spec: same id
        {**valid_kwargs(2), "idempotency_key": "k1", "tenant": "t1"},  # other spec: conflict
        "not an object",
    ]
    result = client.submit_many(items)  # type: ignore[arg-type]
    assert [e.index for e in result.errors] == [2, 3]
    assert result.errors[0].fields == ["idempotency_key"]
    assert result.accepted[0].submission_id == result.accepted[1].submission_id
    assert client.get(result.ids[0]).tenant == "t1"
    assert submitted_ids(redis_url) == [result.ids[0]]  # sent once per batch
    refused = client.submit_many([{**valid_kwargs(3), "tenant": "t2"}], allow_item_tenant=False)
    assert refused.errors[0].fields == ["tenant"]


def test_get_list_and_tenant_scope(client: Client) -> None:
    a = [client.submit(**valid_kwargs(i), tenant="ta") for i in range(5)]
    b = client.submit(**valid_kwargs(9), tenant="tb")
    assert client.get(b.submission_id).submission_id == b.submission_id
    with pytest.raises(NotFoundError):
        client.get(b.submission_id, tenant="ta")
    with pytest.raises(NotFoundError):
        client.get("../../etc/passwd")
    page, token = client.list(tenant="ta", page_size=3)
    assert len(page) == 3 and token
    rest, token2 = client.list(tenant="ta", page_size=3, page_token=token)
    assert token2 is None
    assert {s.submission_id for s in page + rest} == {s.submission_id for s in a}
    assert [s.submission_id for s in client.iter_submissions(label=("n", "9"))] == [b.submission_id]
    assert client.counts_by_state() == {SubmissionState.ACCEPTED: 6}


def test_wait_returns_final_state_or_times_out(client: Client) -> None:
    sub = client.submit(**valid_kwargs(1))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        sub.wait(timeout_s=0.3, poll_interval_s=0.05)
    assert time.monotonic() - started < 3

    def finish() -> None:
        time.sleep(0.3)
        client.store.transition(  # type: ignore[attr-defined]
            sub.submission_id,
            expected={SubmissionState.ACCEPTED},
            new_state=SubmissionState.REJECTED,
            updates={"last_error": "403 PERMISSION_DENIED"},
        )

    thread = threading.Thread(target=finish)
    thread.start()
    assert sub.wait(timeout_s=10, poll_interval_s=0.05) is SubmissionState.REJECTED
    thread.join()
    assert sub.done()
    assert sub.error == {"code": None, "message": "403 PERMISSION_DENIED"}


def test_cancel_sends_cancel_task_and_refuses_finished(client: Client, redis_url: str) -> None:
    sub = client.submit(**valid_kwargs(1))
    sub.cancel()
    msgs = broker_messages(redis_url, "vbq.cancel")
    assert [(m["task"], m["args"]) for m in msgs] == [("vbq.cancel", [sub.submission_id])]
    with pytest.raises(NotFoundError):
        client.cancel(sub.submission_id, tenant="someone-else")
    client.store.transition(  # type: ignore[attr-defined]
        sub.submission_id,
        expected={SubmissionState.ACCEPTED},
        new_state=SubmissionState.REJECTED,
    )
    with pytest.raises(StateConflictError):
        sub.cancel()
    assert len(broker_messages(redis_url, "vbq.cancel")) == 1


def test_broker_down_still_accepts_and_queues(redis_url: str) -> None:
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings.from_env(
        {"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": dead_broker, "VBQ_PROJECT": PROJECT}
    )
    client = Client.from_settings(settings)
    started = time.monotonic()
    sub = client.submit(**valid_kwargs(1))
    assert time.monotonic() - started < 20  # submit() needs no broker at all
    # Durable and queued for the dispatcher; nothing went to the broker.
    assert stored_ids(redis_url) == {sub.submission_id}
    assert client.get(sub.submission_id).cached_state is SubmissionState.ACCEPTED
    assert broker_messages(redis_url, "vbq.submit") == []
    assert submitted_ids(redis_url) == [sub.submission_id]

    # A queued submission is not lost: the workers' sweeper leaves it to the dispatcher.
    import redis

    from vbq.workers.sweeper import Sweeper

    time.sleep(0.2)
    sweeper = Sweeper(
        redis_client=redis.Redis.from_url(redis_url, decode_responses=True),
        settings=settings,
        enqueue=lambda ids: pytest.fail(f"queued submissions re-published: {ids}"),
        accepted_age_s=0.1,
        grace_s=0.1,
    )
    assert sweeper.sweep().total == 0
