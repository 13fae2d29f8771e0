"""Placement on a real Redis: a submission with several acceptable locations is queued at each
place, claimed by the first place that dispatches it, cleaned out of every queue on cancel, and
queued again at its other places after a refused create (docs/contracts.md § Placement)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.integration.producers.conftest import queued_ids, valid_kwargs
from tests.integration.scheduler.test_dispatch import Recorder, make_settings
from vbq.errors import VertexRetryableError
from vbq.producers import Client
from vbq.scheduler.keys import PLACES_KEY, queue_key
from vbq.states import SubmissionState as S
from vbq.store import JobStore
from vbq.workers.submit_placement import place_again

pytestmark = pytest.mark.integration

EU, US = "europe-west4", "us-central1"
PROJECT = "proj-one"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def _queued_at(r: redis.Redis, location: str, sid: str, tenant: str = "default") -> bool:
    return r.zscore(queue_key(PROJECT, location, tenant, "default"), sid) is not None


def test_queued_at_every_place_and_claimed_by_the_first_that_dispatches(
    redis_url: str, r: redis.Redis
) -> None:
    # europe-west4 has no slot left: only us-central1 can take it.
    settings = make_settings(
        redis_url,
        VBQ_LOCATIONS=f"{US},{EU}",
        VBQ_LOCATION_LIMITS='{"europe-west4": {"max_in_flight": 1}}',
    )
    r.zadd(f"vbq:slots:{PROJECT}:{EU}", {"someone-else": "+inf"})  # a running job
    r.zadd(f"vbq:inflight:{PROJECT}:{EU}", {"someone-else": 1.0})
    client = Client.from_settings(settings)
    sub = client.submit(**valid_kwargs(0), locations=[EU, US])
    assert sub.location == EU and sub.locations == (EU, US)  # the first, until placed
    assert _queued_at(r, EU, sub.submission_id) and _queued_at(r, US, sub.submission_id)
    assert set(r.smembers(PLACES_KEY)) == {f"{PROJECT}|{EU}", f"{PROJECT}|{US}"}
    rec = Recorder(r, settings)
    assert rec.take(1) == [sub.submission_id]
    assert queued_ids(redis_url) == []  # out of both queues in the one claim
    placed = client.get(sub.submission_id)
    assert placed.location == US and placed.state is S.ACCEPTED
    assert placed.to_dict()["location"] == US
    assert r.zscore(f"vbq:slots:{PROJECT}:{US}", sub.submission_id) is not None
    assert r.zscore(f"vbq:slots:{PROJECT}:{EU}", sub.submission_id) is None
    for _ in range(3):
        rec.dispatcher.step()
    assert rec.sent == [sub.submission_id]  # never dispatched twice
    client.close()


def test_cancel_leaves_every_queue_and_a_stale_entry_is_never_dispatched(
    redis_url: str, r: redis.Redis
) -> None:
    settings = make_settings(redis_url)
    client = Client.from_settings(settings)
    store = JobStore.from_settings(settings)
    gone = client.submit(**valid_kwargs(0), locations=[EU, US])
    kept = client.submit(**valid_kwargs(1), locations=[US, EU])
    store.transition(gone.submission_id, expected={S.ACCEPTED}, new_state=S.CANCELLED)
    assert sorted(queued_ids(redis_url)) == sorted([kept.submission_id] * 2)
    # A stale entry (written behind the store's back) is dropped, not dispatched.
    r.zadd(queue_key(PROJECT, EU, "default", "default"), {gone.submission_id: 0})
    rec = Recorder(r, settings)
    assert rec.take(1) == [kept.submission_id]
    for _ in range(3):
        rec.dispatcher.step()
    assert rec.sent == [kept.submission_id]
    assert queued_ids(redis_url) == []
    client.close()
    store.close()


def test_a_refused_create_queues_it_again_at_the_other_places_only(
    redis_url: str, r: redis.Redis
) -> None:
    settings = make_settings(redis_url)
    client = Client.from_settings(settings)
    store = JobStore.from_settings(settings)
    sub = client.submit(**valid_kwargs(0), locations=[EU, US])
    sid = sub.submission_id
    rec = Recorder(r, settings)
    rec.take(1)
    assert client.get(sid).location in (EU, US)
    # The submit task took it (ACCEPTED → SUBMITTING) and its create got a 429 in europe-west4.
    store.record_attempt(sid, expected={S.ACCEPTED}, new_state=S.SUBMITTING)
    throttled = VertexRetryableError("busy", status_code=429, status="RESOURCE_EXHAUSTED")
    assert r.zscore("vbq:submit:due", sid) is not None  # the claim's mark
    outcome = place_again(store, store.get(sid), EU, throttled)
    assert outcome.action == "noop" and outcome.final and outcome.keeps_due_mark
    assert r.zscore("vbq:submit:due", sid) is None  # gone with the re-queue, atomically
    again = store.get(sid)
    assert again.state is S.ACCEPTED and again.attempts == 1
    assert _queued_at(r, US, sid) and not _queued_at(r, EU, sid)
    assert rec.take(1) == [sid]
    assert client.get(sid).location == US
    assert r.zscore("vbq:submit:due", sid) is not None  # the new claim's mark
    assert queued_ids(redis_url) == []
    client.close()
    store.close()


def test_a_placed_submission_given_back_by_a_waiting_attempt_is_queued_at_every_place(
    redis_url: str, r: redis.Redis
) -> None:
    from vbq.scheduler.queues import SchedulerQueues

    settings = make_settings(redis_url, VBQ_LOCATIONS=f"{US},{EU}")
    client = Client.from_settings(settings)
    sub = client.submit(**valid_kwargs(3), locations=[EU, US])
    assert Recorder(r, settings).take(1) == [sub.submission_id]  # claimed by one place
    assert queued_ids(redis_url) == []
    # The submit attempt found no token (its grant expired): it gives the submission back,
    # and any acceptable place may claim it again, not only the one that claimed it first.
    assert SchedulerQueues(r).requeue(sub.submission_id)
    assert _queued_at(r, EU, sub.submission_id) and _queued_at(r, US, sub.submission_id)


def test_giving_a_submission_back_clears_its_due_mark_in_the_same_step(
    redis_url: str, r: redis.Redis
) -> None:
    from vbq.broker.due import DUE_KEY
    from vbq.scheduler.queues import SchedulerQueues

    settings = make_settings(redis_url)
    client = Client.from_settings(settings)
    sub = client.submit(**valid_kwargs(4))
    assert Recorder(r, settings).take(1) == [sub.submission_id]
    assert r.zscore(DUE_KEY, sub.submission_id) is not None  # the dispatch marked it
    assert SchedulerQueues(r).requeue(sub.submission_id)
    # Back in line with no mark of its own: the next dispatch writes one, which the attempt
    # that gave it back leaves alone (keeps_due_mark), so a lost publish is still swept.
    assert r.zscore(DUE_KEY, sub.submission_id) is None
    assert Recorder(r, settings).take(1) == [sub.submission_id]
    assert r.zscore(DUE_KEY, sub.submission_id) is not None
