"""The submit path end to end: real Redis, the Vertex emulator and `vbq worker` processes.

Done-when (fast version): with 30% "create then drop the connection", 20% 503s and a short
429 storm, N submissions from several worker processes end as exactly N Vertex jobs, one per
submission label, and every submission is SUBMITTED.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.workers.harness import (
    EmulatorProc,
    create_submissions,
    enqueuer,
    jobs_per_submission,
    logs_tail,
    settings_from,
    spec,
    start_workers,
    states,
    wait_until,
    worker_env,
)
from tests.support.services import ManagedProcess
from vbq.scheduler.dispatcher import Dispatcher
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission
from vbq.workers.sweeper import Sweeper

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProc]:
    emu = EmulatorProc(tmp_path_factory.mktemp("vertex")).start()
    yield emu
    emu.stop()


@pytest.fixture
def emulator(shared_emulator: EmulatorProc) -> EmulatorProc:
    """The module's emulator, reset: no jobs, no counters, no faults."""
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def procs() -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for p in started:
        p.kill()  # a clean shutdown is not under test here, and SIGKILL is fast


def outbox_events(redis_url: str) -> list[dict[str, object]]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [json.loads(fields["event"]) for _, fields in client.xrange("vbq:outbox")]
    finally:
        client.close()


def run_no_duplicates(
    *,
    n: int,
    workers: int,
    redis_url: str,
    emulator: EmulatorProc,
    log_dir: Path,
    procs: list[ManagedProcess],
    timeout_s: float,
    kill_every_s: float = 0.0,
) -> dict[str, object]:
    env = worker_env(redis_url, emulator.url)
    settings = settings_from(env)
    store = JobStore.from_settings(settings)
    procs += start_workers(workers, env, log_dir)
    ids = create_submissions(store, n)
    emulator.configure(create_then_drop_rate=0.3, error_503_rate=0.2, storm_429_s=1.5, seed=11)
    t0 = time.monotonic()
    enqueuer(settings).submit_many(ids)

    last_kill = [time.monotonic()]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    enq = enqueuer(settings)
    # What beat does in production: a killed worker's delayed messages come back only after
    # the visibility timeout, so the sweeper re-enqueues what is overdue (short ages here).
    sweeper = Sweeper(
        redis_client=client,
        settings=settings,
        enqueue=enq.submit_many,
        accepted_age_s=5.0,
        grace_s=5.0,
    )

    def all_submitted() -> bool:
        if kill_every_s and time.monotonic() - last_kill[0] > kill_every_s:
            victim = random.choice([p for p in procs if p.alive()] or procs)
            victim.signal(signal.SIGKILL)
            # The replacement starts in the background; no waiting for its ping.
            procs.extend(start_workers(1, env, log_dir, tag=f"r{len(procs)}-", wait=False))
            sweeper.sweep()
            last_kill[0] = time.monotonic()
        return all(st is S.SUBMITTED for st in states(store, ids).values())

    wait_until(
        all_submitted,
        timeout_s=timeout_s,
        interval_s=0.5,
        what=f"{n} submissions SUBMITTED",
        on_timeout=lambda: f"{store.count_by_state()}\n{logs_tail(procs)}",
    )
    elapsed = time.monotonic() - t0
    per_sub = jobs_per_submission(emulator.jobs())
    assert set(per_sub) == set(ids), "every submission has a job, and no job is foreign"
    assert all(count == 1 for count in per_sub.values()), {
        k: v for k, v in per_sub.items() if v != 1
    }
    recs = store.get_many(ids)
    jobs_by_label = {j["labels"]["vbq-submission"]: j["name"] for j in emulator.jobs()}
    assert all(rec.job_name == jobs_by_label[rec.id] for rec in recs)
    stats = emulator.stats()
    # The faults really fired: dropped creates, 503s and 429s were all answered.
    assert stats["statuses"].get("0", 0) > 0
    assert stats["statuses"].get("503", 0) > 0
    assert stats["statuses"].get("429", 0) > 0
    submitted_events = [e for e in outbox_events(redis_url) if e["type"] == "job.submitted"]
    assert sorted(e["submission_id"] for e in submitted_events) == sorted(ids)
    store.close()
    return {"elapsed_s": elapsed, "stats": stats}


def test_no_duplicate_jobs_under_faults(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    result = run_no_duplicates(
        n=200,
        workers=3,
        redis_url=redis_url,
        emulator=emulator,
        log_dir=log_dir,
        procs=procs,
        timeout_s=90,
    )
    print(f"200 submissions, 3 workers: {result['elapsed_s']:.1f}s, {result['stats']}")


@pytest.mark.slow
def test_no_duplicate_jobs_under_faults_and_worker_kills(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    result = run_no_duplicates(
        n=1000,
        workers=4,
        redis_url=redis_url,
        emulator=emulator,
        log_dir=log_dir,
        procs=procs,
        timeout_s=600,
        kill_every_s=4.0,
    )
    print(f"1000 submissions, 4 workers, kill -9 every 4 s: {result}")


def rejected_event(redis_url: str, submission_id: str) -> dict[str, object]:
    (event,) = [e for e in outbox_events(redis_url) if e["submission_id"] == submission_id]
    assert event["type"] == "job.rejected" and event["state"] == "REJECTED"
    return event


def test_permanent_error_is_rejected_with_googles_message(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    # Every valid spec is one Google accepts in the emulator, so make Google answer 404 the
    # way a wrong endpoint does: a path prefix the emulator does not serve.
    env = worker_env(redis_url, emulator.url + "/no-such-api")
    settings = settings_from(env)
    store = JobStore.from_settings(settings)
    procs += start_workers(1, env, log_dir, pool="threads", concurrency=2)
    (rec, _) = store.create(NewSubmission(spec=spec(), tenant="t1"))
    enqueuer(settings).submit(rec.id)
    wait_until(lambda: store.get(rec.id).state is S.REJECTED, timeout_s=30, what="REJECTED")
    rec = store.get(rec.id)
    assert rec.last_error is not None and "was not found on this server" in rec.last_error
    assert rec.attempts == 1  # never retried
    event = rejected_event(redis_url, rec.id)
    assert "was not found on this server" in json.dumps(event["job"])
    assert '"code": 404' in json.dumps(event["job"])
    assert emulator.jobs() == []
    store.close()


def test_exhausted_retry_budget_is_rejected_with_an_event(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    env = worker_env(redis_url, emulator.url, VBQ_MAX_ATTEMPTS="3")
    settings = settings_from(env)
    store = JobStore.from_settings(settings)
    procs += start_workers(1, env, log_dir)
    emulator.configure(storm_429_s=120)
    (rec, _) = store.create(NewSubmission(spec=spec(), tenant="t1"))
    enqueuer(settings).submit(rec.id)
    wait_until(lambda: store.get(rec.id).state is S.REJECTED, timeout_s=30, what="REJECTED")
    rec = store.get(rec.id)
    assert rec.attempts == 3
    assert rec.last_error is not None and "storm" in rec.last_error  # Google's message
    assert emulator.stats()["requests"]["create"] == 3
    event = rejected_event(redis_url, rec.id)
    assert "RESOURCE_EXHAUSTED" in json.dumps(event["job"])
    assert emulator.jobs() == []
    store.close()


def test_cancel_before_submission_never_calls_vertex(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    env = worker_env(redis_url, emulator.url)
    settings = settings_from(env)
    store = JobStore.from_settings(settings)
    procs += start_workers(1, env, log_dir)
    enq = enqueuer(settings)
    (rec, _) = store.create(NewSubmission(spec=spec(), tenant="t1"))
    enq.submit(rec.id, countdown_s=1.5)  # the submit message is already queued...
    enq.cancel(rec.id)  # ...and the cancel overtakes it
    wait_until(lambda: store.get(rec.id).state is S.CANCELLED, timeout_s=30, what="CANCELLED")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    # The delayed submit ran (and cleared its due mark) without creating anything.
    wait_until(
        lambda: client.zscore("vbq:submit:due", rec.id) is None, timeout_s=30, what="submit ran"
    )
    client.close()
    assert emulator.stats()["requests"]["create"] == 0
    assert [e["type"] for e in outbox_events(redis_url)] == ["job.cancelled"]
    store.close()


def test_sweeper_recovers_a_dispatch_whose_message_was_lost(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    env = worker_env(redis_url, emulator.url)
    settings = settings_from(env)
    store = JobStore.from_settings(settings)
    ids = create_submissions(store, 5)  # stored and queued
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    # A dispatcher that takes them out of their queues and then "dies" before publishing.
    lost = Dispatcher(redis_client=client, settings=settings, publish=lambda _ids: None)
    wait_until(lambda: lost.step() >= 0 and lost.dispatched == 5, timeout_s=10, what="dispatch")
    lost.lease.release()
    assert not client.keys("vbq:sched:queue:*")
    assert set(states(store, ids).values()) == {S.ACCEPTED}
    procs += start_workers(1, env, log_dir, pool="prefork", concurrency=2)  # forked children
    enq = enqueuer(settings)
    young = Sweeper(redis_client=client, settings=settings, enqueue=enq.submit_many)
    assert young.sweep().total == 0  # marked due just now: the message may be on its way
    time.sleep(1.5)
    sweeper = Sweeper(
        redis_client=client,
        settings=settings.replace(visibility_timeout_s=0),
        enqueue=enq.submit_many,
        accepted_age_s=1.0,
        grace_s=1.0,
    )
    assert sorted(sweeper.sweep().accepted) == sorted(ids)
    wait_until(
        lambda: all(st is S.SUBMITTED for st in states(store, ids).values()),
        timeout_s=30,
        what="swept submissions SUBMITTED",
    )
    assert sweeper.sweep().total == 0
    assert sorted(jobs_per_submission(emulator.jobs())) == sorted(ids)
    client.close()
    store.close()


def test_cancel_racing_a_create_in_flight_cancels_the_new_job_on_vertex(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    env = worker_env(redis_url, emulator.url)
    settings = settings_from(env)
    store = JobStore.from_settings(settings)
    procs += start_workers(2, env, log_dir)  # one is busy creating, the other takes the cancel
    emulator.configure(latency_s=2.0, fault_methods=["create"])  # a slow create
    (rec, _) = store.create(NewSubmission(spec=spec(), tenant="t1"))
    enq = enqueuer(settings)
    enq.submit(rec.id)
    wait_until(lambda: store.get(rec.id).state is S.SUBMITTING, timeout_s=20, what="SUBMITTING")
    enq.cancel(rec.id)  # lands while the create is in flight: only the flag can stop it
    wait_until(
        lambda: emulator.stats()["requests"]["cancel"] >= 1, timeout_s=20, what="Vertex cancel"
    )
    (job,) = emulator.jobs()
    assert job["labels"]["vbq-submission"] == rec.id
    assert job["state"] in {"JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"}
    assert store.get(rec.id).state is S.SUBMITTED  # the poller mirrors CANCELLING/CANCELLED
    assert store.get(rec.id).job_name == job["name"]
    store.close()
