"""One poll cycle covers every place with unfinished jobs, each with its own list calls and read
limit: a place out of read budget is skipped, the others are still polled (issue 17, several
regions; docs/contracts.md § Placement)."""

from __future__ import annotations

import json

import pytest
import redis

from tests.integration.poller.test_poller import BUCKET, PROJECT, _input_file, _settings
from tests.support.emulators import VertexEmulator
from vbq.quota.ratelimit import RateLimiter
from vbq.quota.slots import Slots
from vbq.settings import Settings
from vbq.spec import JobSpec, with_submission_label
from vbq.states import SubmissionState
from vbq.store import JobStore, NewSubmission
from vbq.vertex import VertexClient
from vbq.workers.poller import Poller

__all__ = ["_input_file"]  # the autouse fixture, for this module too

pytestmark = pytest.mark.integration

PLACES = {"us-central1": 3, "europe-west4": 2}


def _spec(i: int, location: str) -> JobSpec:
    return JobSpec.from_sdk_kwargs(
        job_display_name=f"poll-{location}-{i}",
        model_name="1234",
        location=location,
        gcs_source=f"gs://{BUCKET}/in/x.jsonl",
        gcs_destination_prefix=f"gs://{BUCKET}/out",
    )


def _submit_in_each_place(
    settings: Settings, client: redis.Redis, store: JobStore
) -> dict[str, list[str]]:
    """Records created and SUBMITTED in each place of PLACES, as the submit task does."""
    vertex = VertexClient.from_settings(settings)
    slots = Slots(client, settings=settings)
    ids: dict[str, list[str]] = {}
    for location, n in PLACES.items():
        for i in range(n):
            rec, _ = store.create(NewSubmission(spec=_spec(i, location)))
            assert rec.location == location
            req = rec.spec.resolve(default_project=PROJECT, default_location="us-central1")
            slots.try_take(rec.id, rec.project, rec.location, rec.model, 60.0)
            store.record_attempt(rec.id)
            job = vertex.create_batch_prediction_job(
                req.parent, with_submission_label(req.body, rec.id)
            )
            store.transition(
                rec.id,
                expected={SubmissionState.SUBMITTING},
                new_state=SubmissionState.SUBMITTED,
                updates={"job_name": job["name"], "job": job},
            )
            ids.setdefault(location, []).append(rec.id)
    return ids


def test_a_place_without_read_budget_is_skipped_and_the_others_polled(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    settings = _settings(redis_url, vertex_emulator).replace(
        location_limits=json.dumps({"europe-west4": {"read_rate_per_min": 0.01, "read_burst": 0}})
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(client, settings=settings)
    ids = _submit_in_each_place(settings, client, store)
    limiter = RateLimiter(client, settings=settings)
    assert limiter.try_acquire("read", PROJECT, "europe-west4").allowed  # its one token
    since = max(e["t"] for e in vertex_emulator.requests())
    poller = Poller.from_settings(settings, client)
    poller.read_wait_s = 0.2
    report = poller.run_cycle()  # europe-west4 comes first (sorted) and has no budget
    assert report.limited
    lists = [e for e in vertex_emulator.requests(since=since) if e["method"] == "list"]
    assert [e["location"] for e in lists] == ["us-central1"]
    assert all(r.state is not SubmissionState.SUBMITTED for r in store.get_many(ids["us-central1"]))
    assert all(r.state is SubmissionState.SUBMITTED for r in store.get_many(ids["europe-west4"]))
    client.close()


def test_a_cycle_lists_each_place_with_unfinished_jobs(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    settings = _settings(redis_url, vertex_emulator)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(client, settings=settings)
    ids = _submit_in_each_place(settings, client, store)
    since = max(e["t"] for e in vertex_emulator.requests())
    report = Poller.from_settings(settings, client).run_cycle()
    assert report.jobs_polled == sum(PLACES.values())
    lists = [e for e in vertex_emulator.requests(since=since) if e["method"] == "list"]
    assert sorted(e["location"] for e in lists) == sorted(PLACES)  # one page per place
    for location, place_ids in ids.items():
        for rec in store.get_many(place_ids):
            assert rec.state is not SubmissionState.SUBMITTED  # mirrored from Vertex
            assert f"/locations/{location}/" in (rec.job_name or "")
    client.close()
