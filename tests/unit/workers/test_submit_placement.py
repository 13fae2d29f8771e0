"""The submit task with several acceptable locations: it creates where it was placed, a 429
there places it again (no retry at that place), and a create that may have been applied keeps
it at its place until the reconcile there (docs/contracts.md § Placement)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from tests.unit.workers.fakes import Record
from tests.unit.workers.test_submit import SETTINGS, World
from vbq.errors import VertexAmbiguousError, VertexRetryableError
from vbq.spec import JobSpec
from vbq.states import SubmissionState as S

EU, US = "europe-west4", "us-central1"
PLACED = SETTINGS.replace(project="proj-one")  # a real spec resolves: a well-formed project
SPEC = JobSpec.from_sdk_kwargs(
    model_name="publishers/google/models/gemini-2.0-flash-001",
    gcs_source="gs://bucket/in.jsonl",
    gcs_destination_prefix="gs://bucket/out",
)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def w(r: redis.Redis) -> World:
    world = World(r, PLACED)
    world.store.add(Record(id=world.id, spec=SPEC, location=EU, locations=(EU, US)))
    return world


def test_a_429_places_it_again_and_the_next_place_creates_it(w: World) -> None:
    w.vertex.script = [VertexRetryableError("busy", status_code=429, status="RESOURCE_EXHAUSTED")]
    out = w.sub.run(w.id)
    assert (out.action, out.final, out.keeps_due_mark) == ("noop", True, True)
    assert w.rec.state is S.ACCEPTED and w.rec.placement_avoid == EU
    assert w.rec.attempts == 1 and w.rec.last_error == "busy"
    assert w.slots.leased == set() and w.vertex.jobs == []
    assert w.store.events == []  # back to ACCEPTED: no event
    # The dispatcher claims it for us-central1 (the record's location), then it is created there.
    w.store.add(replace(w.rec, location=US))
    out = w.sub.run(w.id)
    assert out.action == "submitted"
    (job,) = w.vertex.jobs
    assert job["name"].startswith(f"projects/proj-one/locations/{US}/")
    assert w.vertex.calls == ["create", "create"]  # nothing sent can exist: no reconcile
    assert w.store.events[-1].request.location == US


def test_a_create_that_may_have_been_applied_stays_at_its_place(w: World) -> None:
    w.vertex.script = [VertexAmbiguousError("timeout")]
    w.vertex.created_but_error = {1}  # Google created it, the answer was lost
    out = w.sub.run(w.id)
    assert out.action == "retry"
    assert w.rec.state is S.SUBMITTING and w.rec.location == EU
    assert w.rec.placement_avoid is None
    assert w.sub.run(w.id).action == "adopted"  # reconciled where the create went
    assert w.vertex.calls == ["create", "list"]
    (job,) = w.vertex.jobs
    assert f"/locations/{EU}/" in job["name"] and w.rec.job_name == job["name"]


def test_a_single_location_429_still_retries_at_its_place(r: redis.Redis) -> None:
    world = World(r, PLACED)
    world.store.add(Record(id=world.id, spec=SPEC, location=EU, locations=(EU,)))
    world.vertex.script = [VertexRetryableError("busy", status_code=429)]
    assert world.sub.run(world.id).action == "retry"
    assert world.rec.state is S.SUBMITTING
