"""Graceful shutdown: SIGTERM to a busy `vbq worker` loses and duplicates nothing.

SIGTERM goes to the worker's main process only, as Docker and Kubernetes send it. Celery's warm
shutdown lets running tasks finish; with acks_late, messages not yet done are handed back to
the broker. A second worker then finishes the rest: every submission ends SUBMITTED with
exactly one Vertex job (counted by label in the emulator), and the first worker exited within
its grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
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
    start_workers,
    states,
    wait_until,
    worker_env,
)
from tests.support.services import ManagedProcess
from vbq.states import SubmissionState as S
from vbq.store import JobStore

pytestmark = [pytest.mark.integration]

GRACE_S = 15.0
_SUBMITTED = {S.SUBMITTED, S.QUEUED, S.PENDING, S.RUNNING}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProc]:
    emu = EmulatorProc(tmp_path / "vertex").start()
    yield emu
    emu.stop()


@pytest.fixture
def procs() -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for p in started:
        p.kill()


def _sigterm_mid_run(
    n: int, redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    # Creates take ~10 ms, so tasks are mid-create when the signal lands.
    emulator.configure(latency_s=0.01)
    env = worker_env(redis_url, emulator.url, VBQ_SHUTDOWN_GRACE_S=str(GRACE_S))
    settings = settings_from(env)
    store = JobStore(redis.Redis.from_url(redis_url, decode_responses=True), settings=settings)
    first = start_workers(1, env, log_dir, pool="prefork", concurrency=2, tag="term")[0]
    procs.append(first)
    ids = create_submissions(store, n)
    enqueuer(settings).submit_many(ids)

    def submitted() -> int:
        return sum(1 for s in states(store, ids).values() if s in _SUBMITTED)

    wait_until(lambda: submitted() >= n // 4, timeout_s=60, what="a quarter submitted")
    os.kill(first.pid, signal.SIGTERM)
    signalled = time.monotonic()
    assert first.proc is not None
    try:
        code = first.proc.wait(timeout=GRACE_S + 15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker still running {GRACE_S + 15}s after SIGTERM\n{logs_tail([first])}")
    took_s = time.monotonic() - signalled
    at_exit = submitted()
    assert took_s <= GRACE_S + 3, f"exit took {took_s:.1f}s"
    assert code == 0, logs_tail([first])
    assert "grace_expired" not in first.log_text()
    assert at_exit < n, "the run finished before the signal: nothing was in flight"

    procs.extend(start_workers(1, env, log_dir, pool="prefork", concurrency=2, tag="after"))
    wait_until(
        lambda: submitted() == n,
        timeout_s=90,
        what="all submitted after the restart",
        on_timeout=lambda: f"{submitted()}/{n}\n{logs_tail(procs)}",
    )
    per_label = jobs_per_submission(emulator.jobs())
    assert {i: per_label.get(i, 0) for i in ids} == dict.fromkeys(ids, 1)
    assert len(per_label) == n


def test_sigterm_to_a_busy_worker_loses_and_duplicates_nothing(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    _sigterm_mid_run(200, redis_url, emulator, log_dir, procs)


@pytest.mark.slow
def test_sigterm_to_a_busy_worker_500_jobs(
    redis_url: str, emulator: EmulatorProc, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    _sigterm_mid_run(500, redis_url, emulator, log_dir, procs)


def test_sigterm_to_beat_stops_the_relay_and_releases_its_lease(
    redis_url: str, shared_pubsub_host: str, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    from tests.integration.ops.helpers import create_event_resources, event_names, start_role
    from tests.integration.ops.helpers import wait_healthy as healthy

    env = {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_PROJECT": "vbq-test-project",
        "PUBSUB_EMULATOR_HOST": shared_pubsub_host,
        "VBQ_LOG_FORMAT": "json",
        "VBQ_SHUTDOWN_GRACE_S": "10",
        **event_names("beat"),
    }
    create_event_resources(env)
    beat, port = start_role("beat", ["beat", "--tick-s", "0.5"], env=env, log_dir=log_dir)
    procs.append(beat)
    healthy(port, beat)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    wait_until(lambda: bool(r.get("vbq:relay:lock")), timeout_s=20, what="relay lease taken")
    os.kill(beat.pid, signal.SIGTERM)
    assert beat.proc is not None
    started = time.monotonic()
    beat.proc.wait(timeout=25)
    assert time.monotonic() - started <= 10 + 3
    # The relay released its lease on the way out: a standby can take over at once.
    assert r.get("vbq:relay:lock") is None, beat.log_text()[-2000:]
