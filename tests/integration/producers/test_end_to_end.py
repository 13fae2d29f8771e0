"""Producer → broker → a real ``vbq worker`` → the Vertex emulator: the message contract holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.producers.conftest import PROJECT, valid_kwargs
from tests.support.emulators import VertexEmulator
from tests.support.services import ManagedProcess, vbq_argv
from vbq.producers import Client
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.workers.celery_app import create_app

pytestmark = pytest.mark.integration

WAITING = {SubmissionState.ACCEPTED, SubmissionState.SUBMITTING}


def _env(redis_url: str, vertex_url: str) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_VERTEX_ENDPOINT": vertex_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_CREATE_RATE_PER_MIN": "600000",
        "VBQ_CREATE_BURST": "100",
        "VBQ_READ_RATE_PER_MIN": "600000",
        "VBQ_READ_BURST": "100",
        "VBQ_RETRY_BASE_S": "0.05",
        "VBQ_RETRY_MAX_S": "0.5",
        "VBQ_VISIBILITY_TIMEOUT_S": "30",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def cluster(
    redis_url: str, vertex_emulator: VertexEmulator, tmp_path: Path
) -> Iterator[tuple[Client, VertexEmulator]]:
    env = _env(redis_url, vertex_emulator.url)
    name = f"producers-e2e-{time.monotonic_ns()}@test"
    worker = ManagedProcess(
        "worker",
        vbq_argv(
            "worker", "--pool", "solo", "--queues", "vbq.submit,vbq.cancel", "--hostname", name
        ),
        log_dir=tmp_path,
        env=env,
    ).start()
    settings = Settings.from_env(env)
    app = create_app(settings)
    try:
        deadline = time.monotonic() + 60
        while not any(name in reply for reply in app.control.ping([name], timeout=0.5) or []):
            assert worker.alive(), worker.log_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not answer a ping in 60 s"
        yield Client.from_settings(settings), vertex_emulator
    finally:
        app.close()
        worker.stop()


def _wait(client: Client, ids: list[str], done: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = {sid: client.get(sid).cached_state for sid in ids}
        if all(done(s) for s in states.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"not done within {timeout_s}s: {states}")


def test_submissions_reach_vertex_once_each_and_cancel_arrives(
    cluster: tuple[Client, VertexEmulator],
) -> None:
    # One worker start for both checks: starting a worker costs seconds on a shared machine.
    client, vertex = cluster
    one = client.submit(**valid_kwargs(0), idempotency_key="e2e-0")
    many = client.submit_many([valid_kwargs(i) for i in range(1, 8)], batch_size=3)
    assert many.ok
    ids = [one.submission_id, *many.ids]
    _wait(client, ids, lambda s: s not in WAITING)
    assert _jobs_by_submission(vertex.jobs()).keys() == set(ids)
    assert all(len(jobs) == 1 for jobs in _jobs_by_submission(vertex.jobs()).values())
    sub = client.get(one.submission_id)
    assert sub.resource_name and sub.resource_name.startswith(f"projects/{PROJECT}/")
    assert sub.display_name == "job-0"

    # The emulator may already have finished the job (no poller runs here to mirror that), so
    # what must hold is that the cancel request reached Vertex through the worker.
    sub.cancel()
    deadline = time.monotonic() + 60
    while vertex.stats()["requests"].get("cancel", 0) < 1:
        assert time.monotonic() < deadline, f"cancel did not reach Vertex: {vertex.stats()}"
        time.sleep(0.2)


def _jobs_by_submission(jobs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        sid = (job.get("labels") or {}).get("vbq-submission", "")
        out.setdefault(sid, []).append(job)
    return out
