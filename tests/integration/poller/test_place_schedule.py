"""Each place has its own poll schedule (issue 17.3): a place whose list calls fail, or that
is idle, backs off alone while a busy place keeps its own cadence; the schedule lives in Redis,
so a restarted or second beat neither forgets it nor polls a place twice in its interval
(vbq.store.poll_schedule, docs/contracts.md § Poll schedule)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.integration.poller.test_places import _spec, _submit_in_each_place
from tests.integration.poller.test_poller import PROJECT, _input_file, _settings
from tests.support.emulators import VertexEmulator
from vbq.cli import cli
from vbq.errors import VertexRetryableError
from vbq.metrics_redis import RedisStateCollector
from vbq.settings import Settings
from vbq.spec import with_submission_label
from vbq.states import SubmissionState
from vbq.store import JobStore, NewSubmission
from vbq.store.poll_schedule import PlaceSchedule
from vbq.vertex import VertexClient
from vbq.workers.poller import Poller

__all__ = ["_input_file"]  # the autouse fixture, for this module too

pytestmark = pytest.mark.integration

BUSY = "us-central1"
OTHER = "europe-west4"


class _PlaceFails:
    """The real client, but every list call at one location fails like a 429 would."""

    def __init__(self, inner: VertexClient, location: str) -> None:
        self.inner = inner
        self.location = location

    def list_batch_prediction_jobs(self, parent: str, **kwargs: Any) -> Any:
        if parent.endswith(f"/locations/{self.location}"):
            raise VertexRetryableError("list: 429", status_code=429, status="RESOURCE_EXHAUSTED")
        return self.inner.list_batch_prediction_jobs(parent, **kwargs)

    def get_batch_prediction_job(self, name: str) -> dict[str, Any]:
        return self.inner.get_batch_prediction_job(name)


def _submit(
    settings: Settings, store: JobStore, vertex: VertexClient, location: str, i: int
) -> str:
    """One more SUBMITTED job at ``location``, as the submit task leaves it."""
    rec, _ = store.create(NewSubmission(spec=_spec(1000 + i, location)))
    req = rec.spec.resolve(default_project=PROJECT, default_location=BUSY)
    store.record_attempt(rec.id)
    job = vertex.create_batch_prediction_job(req.parent, with_submission_label(req.body, rec.id))
    store.transition(
        rec.id,
        expected={SubmissionState.SUBMITTING},
        new_state=SubmissionState.SUBMITTED,
        updates={"job_name": job["name"], "job": job},
    )
    return rec.id


def _tick(poller: Poller, schedule: PlaceSchedule, log: list[dict[str, Any]]) -> None:
    """What one beat tick's ``vbq.poll`` task does (workers/poll_tasks.py)."""
    if schedule.due():
        report = poller.run_cycle(schedule=schedule)
        log.extend({**p, "t": time.monotonic()} for p in report.places)


@pytest.mark.parametrize("other", ["failing", "idle"])
def test_a_failing_or_idle_place_backs_off_alone_and_the_busy_one_keeps_its_cadence(
    redis_url: str, vertex_emulator: VertexEmulator, other: str
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    settings = _settings(redis_url, vertex_emulator).replace(
        poll_interval_s=0.25, poll_max_interval_s=1.0
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(client, settings=settings)
    vertex = VertexClient.from_settings(settings)
    _submit_in_each_place(settings, client, store)
    poller = Poller.from_settings(settings, client)
    if other == "failing":
        poller.vertex = _PlaceFails(poller.vertex, OTHER)  # type: ignore[arg-type]
    schedule = PlaceSchedule(client, settings=settings)
    log: list[dict[str, Any]] = []
    busy_ids: list[str] = []
    started = time.monotonic()
    next_submit = started
    while time.monotonic() - started < 4.0:
        if time.monotonic() >= next_submit:  # the busy place gets a job every 0.25 s
            busy_ids.append(_submit(settings, store, vertex, BUSY, len(busy_ids)))
            next_submit += 0.25
        _tick(poller, schedule, log)
        time.sleep(0.05)
    busy = [e for e in log if e["place"] == f"{PROJECT}:{BUSY}"]
    slow = [e for e in log if e["place"] == f"{PROJECT}:{OTHER}"]

    # The other place backed off to the maximum on its own: 0, +0.5, +1, +1, +1 at most.
    expected_first = "failed" if other == "failing" else "changed"  # idle: SUBMITTED -> QUEUED
    assert slow[0]["outcome"] == expected_first
    later = "failed" if other == "failing" else "quiet"
    assert all(e["outcome"] == later for e in slow[1:])
    assert [e["next_in_s"] for e in slow[-2:]] == [1.0, 1.0]
    assert 3 <= len(slow) <= 6
    if other == "failing":
        assert [e["failures"] for e in slow] == list(range(1, len(slow) + 1))
    # The busy place kept its own cadence: never failed, mostly changed (each fresh job moves
    # to QUEUED), polled far more often, also while the other one was backing off.
    assert all(e["failures"] == 0 and e["outcome"] != "failed" for e in busy)
    assert sum(e["outcome"] == "changed" for e in busy) >= 6
    assert len(busy) >= 2 * len(slow)
    gaps = list(itertools.pairwise(slow))
    assert all(any(a["t"] < b["t"] < c["t"] for b in busy) for a, c in gaps)
    _tick(poller, schedule, log)  # the last job submitted woke the busy place up
    polled = store.get_many(busy_ids)
    assert sum(r.state is SubmissionState.SUBMITTED for r in polled) == 0
    client.close()


def test_the_schedule_survives_a_restart_and_a_second_beat_never_double_polls(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    settings = _settings(redis_url, vertex_emulator).replace(
        poll_interval_s=0.5, poll_max_interval_s=1.0
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(client, settings=settings)
    _submit_in_each_place(settings, client, store)
    since = max(e["t"] for e in vertex_emulator.requests())
    first = Poller.from_settings(settings, client).run_cycle(
        schedule=PlaceSchedule(client, settings=settings)
    )
    assert sorted(p["place"] for p in first.places) == [f"{PROJECT}:{OTHER}", f"{PROJECT}:{BUSY}"]
    # A restarted (or second) beat's process: fresh objects, the same Redis.
    fresh = PlaceSchedule(client, settings=settings)
    assert fresh.due() == []
    again = Poller.from_settings(settings, client).run_cycle(schedule=fresh)
    assert again.ran and again.places == [] and again.api_calls == 0

    # Two processes ticking side by side for 2 s: each place is polled once per due time.
    log: list[dict[str, Any]] = []
    lock = threading.Lock()

    def beat() -> None:
        poller = Poller.from_settings(
            settings, redis.Redis.from_url(redis_url, decode_responses=True)
        )
        schedule = PlaceSchedule(poller.redis, settings=settings)
        mine: list[dict[str, Any]] = []
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            _tick(poller, schedule, mine)
            time.sleep(0.02)
        with lock:
            log.extend(mine)

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lists = Counter(
        f"{PROJECT}:{e['location']}"
        for e in vertex_emulator.requests(since=since)
        if e["method"] == "list"
    )
    polls = Counter(e["place"] for e in log)
    for place in (f"{PROJECT}:{BUSY}", f"{PROJECT}:{OTHER}"):
        assert lists[place] == polls[place] + 1  # + the first cycle; one list page each
        # Quiet after the first cycle: due after 1.0 s (interval 0.5 doubled), then 1.0 s.
        assert 1 <= polls[place] <= 2
    client.close()


def test_a_submission_wakes_a_healthy_place_but_not_a_failing_one(
    redis_url: str, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=3600, run_s=3600)
    settings = _settings(redis_url, vertex_emulator).replace(
        poll_interval_s=30.0, poll_max_interval_s=60.0
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(client, settings=settings)
    vertex = VertexClient.from_settings(settings)
    _submit_in_each_place(settings, client, store)
    poller = Poller.from_settings(settings, client)
    poller.vertex = _PlaceFails(poller.vertex, OTHER)  # type: ignore[arg-type]
    schedule = PlaceSchedule(client, settings=settings)
    report = poller.run_cycle(schedule=schedule)
    outcomes = {p["place"]: (p["outcome"], p["next_in_s"]) for p in report.places}
    assert outcomes == {
        f"{PROJECT}:{BUSY}": ("changed", 30.0),
        f"{PROJECT}:{OTHER}": ("failed", 60.0),
    }
    assert schedule.due() == []
    families = {f.name: f for f in RedisStateCollector(redis=client, settings=settings).collect()}
    gauges = {
        (name, s.labels["location"]): s.value
        for name in ("vbq_poll_interval_seconds", "vbq_poll_failures", "vbq_poll_next_due_seconds")
        for s in families[name].samples
    }
    assert gauges[("vbq_poll_interval_seconds", BUSY)] == 30.0
    assert gauges[("vbq_poll_interval_seconds", OTHER)] == 60.0
    assert (gauges[("vbq_poll_failures", BUSY)], gauges[("vbq_poll_failures", OTHER)]) == (0, 1)
    assert 50.0 < gauges[("vbq_poll_next_due_seconds", OTHER)] <= 60.0
    env = {"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": redis_url, "VBQ_PROJECT": PROJECT}
    watched = CliRunner(env=env).invoke(cli, ["watch", "--once", "--recent", "0"])
    assert watched.exit_code == 0, watched.output
    text = watched.stdout[watched.stdout.index("poll schedule per place") :]
    rows = {
        cells[2]: cells[3:6]
        for line in text.splitlines()
        if PROJECT in line and len(cells := [c.strip() for c in line.split("│")]) > 5
    }
    assert rows[BUSY][0] == "30" and rows[BUSY][2] == "0"
    assert rows[OTHER][0] == "60" and rows[OTHER][2] == "1"
    assert 50.0 < float(rows[OTHER][1]) <= 60.0
    _submit(settings, store, vertex, OTHER, 1)
    assert schedule.due() == []  # the failing place waits out its back-off
    _submit(settings, store, vertex, BUSY, 2)
    assert [s.location for s in schedule.due()] == [BUSY]
    client.close()
