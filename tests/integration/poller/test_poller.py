"""The poller against real Redis and the real Vertex emulator.

Jobs are created on the emulator the way the submit task does (the ``vbq-submission`` label),
then poll cycles run until every job finished. The checks are the poller's promises: one outbox
entry per state change, finished jobs leave the in-flight list, API calls grow with pages, two
pollers never write an event twice, a stale job warns once.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from tests.support.emulators import VertexEmulator
from vbq.errors import VertexPermanentError, VertexRetryableError
from vbq.quota.slots import Slots
from vbq.settings import Settings
from vbq.spec import JobSpec, with_submission_label
from vbq.states import SubmissionState
from vbq.store import JobStore, NewSubmission
from vbq.store.poll_schedule import Outcome, PlaceSchedule
from vbq.vertex import VertexClient
from vbq.workers.poller import Poller

PROJECT = "poll-proj"
LOCATION = "us-central1"
BUCKET = "vbq-poller-test"


@pytest.fixture(autouse=True)
def _input_file(storage_client: Any) -> None:
    bucket = storage_client.bucket(BUCKET)
    if not bucket.exists():
        bucket = storage_client.create_bucket(BUCKET)
    rows = "".join(json.dumps({"x": i}) + "\n" for i in range(5))
    bucket.blob("in/x.jsonl").upload_from_string(rows)


def _settings(redis_url: str, vertex: VertexEmulator, **overrides: Any) -> Settings:
    base = Settings.from_env(
        {
            "VBQ_REDIS_URL": redis_url,
            "VBQ_PROJECT": PROJECT,
            "VBQ_LOCATION": LOCATION,
            "VBQ_VERTEX_ENDPOINT": vertex.url,
            "VBQ_READ_RATE_PER_MIN": "600000",
            "VBQ_READ_BURST": "1000",
        }
    )
    return base.replace(**overrides)


def _spec(i: int) -> JobSpec:
    return JobSpec.from_sdk_kwargs(
        job_display_name=f"poll-{i}",
        model_name="1234",
        gcs_source=f"gs://{BUCKET}/in/x.jsonl",
        gcs_destination_prefix=f"gs://{BUCKET}/out",
    )


def _submit_all(store: JobStore, vertex: VertexClient, slots: Slots, n: int) -> list[str]:
    """Create records and Vertex jobs, and record them SUBMITTED (what the submit task does)."""
    ids = []
    for i in range(n):
        rec, _ = store.create(NewSubmission(spec=_spec(i)))
        req = rec.spec.resolve(default_project=PROJECT, default_location=LOCATION)
        slots.try_take(rec.id, rec.project, rec.location, rec.model, 60.0)
        store.record_attempt(rec.id)
        job = vertex.create_batch_prediction_job(
            req.parent, with_submission_label(req.body, rec.id)
        )
        slots.hold(rec.id, rec.project, rec.location, rec.model)
        store.transition(
            rec.id,
            expected={SubmissionState.SUBMITTING},
            new_state=SubmissionState.SUBMITTED,
            updates={"job_name": job["name"], "job": job},
        )
        ids.append(rec.id)
    return ids


@dataclass
class _World:
    """Settings, clients and the submissions of one poller test."""

    settings: Settings
    client: redis.Redis
    store: JobStore
    vertex: VertexClient
    slots: Slots
    ids: list[str]


def _world(redis_url: str, emulator: VertexEmulator, n: int, **overrides: Any) -> _World:
    """Build the store and clients, and submit ``n`` jobs to the emulator."""
    settings = _settings(redis_url, emulator, **overrides)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(client, settings=settings)
    vertex = VertexClient.from_settings(settings)
    slots = Slots(client, settings=settings)
    ids = _submit_all(store, vertex, slots, n)
    return _World(settings, client, store, vertex, slots, ids)


def _outbox(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(fields["event"]) for _, fields in client.xrange("vbq:outbox")]


def _poller(settings: Settings, client: redis.Redis) -> Poller:
    return Poller.from_settings(settings, client)


def _drain(poller: Poller, store: JobStore, ids: list[str], timeout_s: float = 60.0) -> list[Any]:
    reports = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reports.append(poller.run_cycle())
        if all(store.get(i).finished for i in ids):
            return reports
        time.sleep(0.05)
    raise AssertionError(f"not all finished: {store.count_by_state()}")


@pytest.mark.integration
def test_every_state_path_gives_one_event_per_change(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(
        queued_s=300, run_s=300, fail_share=0.2, partial_share=0.2, expire_share=0.2, seed=7
    )
    w = _world(redis_url, vertex_emulator, 60)
    settings, client, store, vertex, slots, ids = (
        w.settings,
        w.client,
        w.store,
        w.vertex,
        w.slots,
        w.ids,
    )
    # Cancel a few on Vertex: they must end CANCELLED through the poller.
    cancelled = []
    for sid in ids[:12]:
        try:
            vertex.cancel_batch_prediction_job(store.get(sid).job_name or "")
            cancelled.append(sid)
        except VertexPermanentError:
            pass  # this one already finished (expired early): not cancellable
    assert len(cancelled) >= 3
    poller = _poller(settings, client)
    _drain(poller, store, ids)

    finals = Counter(store.get(i).state for i in ids)
    # A cancelled job ends CANCELLED unless its outputs were already written (Google's rule).
    assert sum(store.get(i).state is SubmissionState.CANCELLED for i in cancelled) >= 1
    assert {SubmissionState.SUCCEEDED, SubmissionState.FAILED} <= set(finals)
    assert sum(finals.values()) == 60

    events = _outbox(client)
    event_ids = [e["event_id"] for e in events]
    assert len(event_ids) == len(set(event_ids)), "an event was written twice"
    # Each record's final state has exactly one event, carrying the whole Vertex resource.
    for sid in ids:
        rec = store.get(sid)
        mine = [e for e in events if e["submission_id"] == sid]
        assert [e["state"] for e in mine][-1] == rec.state.value
        assert mine[-1]["job"]["name"] == rec.job_name
        if rec.state is SubmissionState.SUCCEEDED:
            assert "completionStats" in mine[-1]["job"]
        # previous_state chains: each event starts where the previous one ended.
        for before, after in itertools.pairwise(mine):
            assert after["previous_state"] == before["state"]
    # Finished jobs are no longer polled and their slots are free.
    assert client.zcard(f"vbq:inflight:{PROJECT}:{LOCATION}") == 0
    assert slots.in_use(PROJECT, LOCATION) == 0
    before = vertex_emulator.stats()["requests"]
    report = poller.run_cycle()
    after = vertex_emulator.stats()["requests"]
    assert report.api_calls == 0
    assert before.get("list", 0) == after.get("list", 0)


@pytest.mark.integration
def test_calls_per_cycle_grow_with_pages_not_jobs(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    w = _world(redis_url, vertex_emulator, 95, poll_page_size=20)
    settings, client, store, ids = w.settings, w.client, w.store, w.ids
    poller = _poller(settings, client)
    before = vertex_emulator.stats()["requests"]
    report = poller.run_cycle()
    after = vertex_emulator.stats()["requests"]
    calls = sum(after.get(k, 0) - before.get(k, 0) for k in ("list", "get"))
    assert report.api_calls == calls
    assert calls <= math.ceil(95 / 20) + 2
    assert report.jobs_polled == 95
    # First cycle moves SUBMITTED -> the emulator's state; the next one changes nothing.
    assert report.jobs_changed == 95
    assert poller.run_cycle().jobs_changed == 0
    assert all(not store.get(i).finished for i in ids)


@pytest.mark.integration
def test_two_pollers_at_once_write_each_event_once(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=100, run_s=200)
    w = _world(redis_url, vertex_emulator, 40)
    settings, client, store, ids = w.settings, w.client, w.store, w.ids
    pollers = [
        _poller(settings, redis.Redis.from_url(redis_url, decode_responses=True)) for _ in range(2)
    ]
    ran = Counter[int]()

    def loop(k: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(store.get(i).finished for i in ids):
            if pollers[k].run_cycle().ran:
                ran[k] += 1

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(store.get(i).finished for i in ids)
    event_ids = [e["event_id"] for e in _outbox(client)]
    assert len(event_ids) == len(set(event_ids))
    assert sum(ran.values()) >= 2


@pytest.mark.integration
def test_stale_job_warns_once_and_keeps_being_polled(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    w = _world(redis_url, vertex_emulator, 3, stale_after_s=0.0)
    settings, client, ids = w.settings, w.client, w.ids
    poller = _poller(settings, client)
    for _ in range(3):
        poller.run_cycle()
    stale = [e for e in _outbox(client) if e["type"] == "job.stale"]
    assert sorted(e["submission_id"] for e in stale) == sorted(ids)
    assert {e["event_id"] for e in stale} == {f"{i}:STALE" for i in ids}
    assert client.zcard(f"vbq:inflight:{PROJECT}:{LOCATION}") == 3


@pytest.mark.integration
def test_job_deleted_outside_vbq_ends_failed(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=0, run_s=0)
    w = _world(redis_url, vertex_emulator, 1)
    settings, client, store, vertex, (sid,) = w.settings, w.client, w.store, w.vertex, w.ids
    name = store.get(sid).job_name or ""
    deadline = time.monotonic() + 20
    while vertex.get_batch_prediction_job(name)["state"] not in {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
    }:
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.05)
    vertex.delete_batch_prediction_job(name, wait=True)
    _drain(_poller(settings, client), store, [sid])
    rec = store.get(sid)
    assert rec.state is SubmissionState.FAILED
    assert "not found" in (rec.last_error or "")


@pytest.mark.integration
def test_schedule_backs_off_and_wakes_up_after_a_submission(redis_url: str) -> None:
    settings = Settings.from_env(
        {"VBQ_REDIS_URL": redis_url, "VBQ_PROJECT": PROJECT, "VBQ_LOCATION": LOCATION}
    ).replace(poll_interval_s=10.0, poll_max_interval_s=40.0)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    schedule = PlaceSchedule(client, settings=settings)
    store = JobStore(client, settings=settings)

    def submit(i: int) -> None:
        # A submission enters the in-flight list the way the submit task puts it there.
        rec, _ = store.create(NewSubmission(spec=_spec(i)))
        store.record_attempt(rec.id)
        store.transition(
            rec.id,
            expected={SubmissionState.SUBMITTING},
            new_state=SubmissionState.SUBMITTED,
            updates={
                "job_name": f"projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs/{i}"
            },
        )

    submit(1)
    (place,) = schedule.due()  # never polled: due
    schedule.started([place])
    assert schedule.finished(place, Outcome.QUIET) == 20.0
    (place,) = schedule.due(force=True)
    assert schedule.finished(place, Outcome.QUIET) == 40.0
    (place,) = schedule.due(force=True)
    assert schedule.finished(place, Outcome.QUIET) == 40.0
    assert schedule.due() == []
    submit(2)
    (place,) = schedule.due()
    assert schedule.finished(place, Outcome.CHANGED) == 10.0


class _FlakyList:
    """The real client, but the first list call fails like a 503 would."""

    def __init__(self, inner: VertexClient) -> None:
        self.inner = inner
        self.failures_left = 1

    def list_batch_prediction_jobs(self, parent: str, **kwargs: Any) -> Any:
        if self.failures_left:
            self.failures_left -= 1
            raise VertexRetryableError("list: 503", status_code=503, status="UNAVAILABLE")
        return self.inner.list_batch_prediction_jobs(parent, **kwargs)

    def get_batch_prediction_job(self, name: str) -> dict[str, Any]:
        return self.inner.get_batch_prediction_job(name)


@pytest.mark.integration
def test_transient_list_failure_skips_the_location_without_per_job_gets(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    w = _world(redis_url, vertex_emulator, 5)
    settings, client, vertex = w.settings, w.client, w.vertex
    poller = _poller(settings, client)
    poller.vertex = _FlakyList(vertex)
    first = poller.run_cycle()
    assert (first.list_errors, first.get_calls, first.jobs_changed) == (1, 0, 0)
    second = poller.run_cycle()
    assert (second.list_errors, second.jobs_changed) == (0, 5)


@pytest.mark.integration
def test_a_stray_job_with_the_same_label_never_drives_the_record(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    w = _world(redis_url, vertex_emulator, 1)
    settings, client, store, vertex, (sid,) = w.settings, w.client, w.store, w.vertex, w.ids
    # A second job carrying the same label, e.g. made by hand outside vbq, then cancelled.
    req = store.get(sid).spec.resolve(default_project=PROJECT, default_location=LOCATION)
    stray = vertex.create_batch_prediction_job(req.parent, with_submission_label(req.body, sid))
    vertex.cancel_batch_prediction_job(stray["name"])
    poller = _poller(settings, client)
    deadline = time.monotonic() + 10
    while vertex.get_batch_prediction_job(stray["name"])["state"] != "JOB_STATE_CANCELLED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    poller.run_cycle()
    rec = store.get(sid)
    assert not rec.finished
    assert rec.job is not None and rec.job["name"] == rec.job_name != stray["name"]


def _scan_like_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("scan", "keys"))


@pytest.mark.integration
def test_poll_ticks_and_cycles_never_scan_the_keyspace(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    w = _world(redis_url, vertex_emulator, 12, poll_page_size=5)
    poller = _poller(w.settings, w.client)
    schedule = PlaceSchedule(w.client, settings=w.settings)
    before = _scan_like_calls(w.client)
    for _ in range(3):
        schedule.due()
        report = poller.run_cycle(schedule=schedule, force=True)
        assert report.ran and report.jobs_polled == 12
    assert _scan_like_calls(w.client) == before
    assert w.client.zrange("vbq:poll:locations", 0, -1) == [f"{PROJECT}:{LOCATION}"]
