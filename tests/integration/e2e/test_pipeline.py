"""The whole pipeline with real processes, end to end.

vbq.producers.Client → Redis broker → ``vbq worker`` (Celery) → Vertex emulator → ``vbq beat``
(poll ticks + outbox relay) → Pub/Sub emulator → ``vbq subscribe`` running a handler that
counts its side effects in Redis (tests/integration/e2e/handlers.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.emulators import GcsEmulator, VertexEmulator
from tests.support.pubsub import PubSubEmulator
from tests.support.services import ManagedProcess, vbq_argv
from vbq.events import event_id_for
from vbq.producers import Client
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.store import JobStore
from vbq.workers.celery_app import create_app

pytestmark = pytest.mark.integration

PROJECT = "vbq-e2e"
JOBS = 30
GEMINI = "publishers/google/models/gemini-2.0-flash-001"


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str, detail: Any = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    info = detail() if callable(detail) else detail
    raise AssertionError(f"{what} not reached within {timeout_s}s: {info}")


def outbox_added(r: redis.Redis) -> int:
    return int(r.get("vbq:outbox:added") or 0)


@pytest.fixture
def env(
    redis_url: str,
    vertex_emulator: VertexEmulator,
    gcs_emulator: GcsEmulator,
    pubsub_emulator: PubSubEmulator,
) -> dict[str, str]:
    """The environment of every role; its own topic and subscription names."""
    tag = uuid.uuid4().hex[:8]
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_VERTEX_ENDPOINT": vertex_emulator.url,
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
        "STORAGE_EMULATOR_HOST": gcs_emulator.host,
        "VBQ_EVENTS_TOPIC": f"e2e-events-{tag}",
        "VBQ_EVENTS_SUBSCRIPTION": f"e2e-events-{tag}-sub",
        "VBQ_DEAD_LETTER_TOPIC": f"e2e-dead-{tag}",
        "VBQ_CREATE_RATE_PER_MIN": "60000",
        "VBQ_CREATE_BURST": "50",
        "VBQ_READ_RATE_PER_MIN": "60000",
        "VBQ_READ_BURST": "50",
        "VBQ_MAX_ATTEMPTS": "20",
        "VBQ_RETRY_BASE_S": "0.05",
        "VBQ_RETRY_MAX_S": "0.5",
        "VBQ_HTTP_TIMEOUT_S": "5",
        "VBQ_VISIBILITY_TIMEOUT_S": "30",
        "VBQ_POLL_INTERVAL_S": "0.3",
        "VBQ_POLL_MAX_INTERVAL_S": "1",
        "VBQ_SHUTDOWN_GRACE_S": "5",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def pipeline(
    env: dict[str, str], tmp_path: Path, pubsub_emulator: PubSubEmulator
) -> Iterator[Settings]:
    """Worker, beat (with relay) and subscriber processes; yields the settings to talk to them."""
    from vbq.pubsub.admin import ensure_event_resources

    settings = Settings.from_env(env)
    ensure_event_resources(settings)
    logs = tmp_path / "logs"
    name = f"e2e-{uuid.uuid4().hex[:8]}@test"
    roles = [
        ManagedProcess(
            "worker",
            vbq_argv("worker", "--pool", "threads", "--concurrency", "4", "--hostname", name),
            log_dir=logs,
            env=env,
        ),
        ManagedProcess("beat", vbq_argv("beat", "--tick-s", "0.2"), log_dir=logs, env=env),
        ManagedProcess(
            "subscribe",
            vbq_argv("subscribe", "--handler", "tests.integration.e2e.handlers", "--create"),
            log_dir=logs,
            env=env,
        ),
    ]
    for role in roles:
        role.start()
    r = redis.Redis.from_url(settings.redis_url)
    app = create_app(settings)
    sub_path = settings.events_subscription_path()

    def tails() -> str:
        return "\n".join(f"--- {p.name}\n{p.log_text()[-1500:]}" for p in roles)

    def ready() -> bool:
        dead = [p.name for p in roles if not p.alive()]
        assert not dead, f"{dead} exited:\n{tails()}"
        streams = pubsub_emulator.stats()["subscriptions"].get(sub_path, {}).get("streams", [])
        pinged = any(name in reply for reply in app.control.ping([name], timeout=0.3) or [])
        return bool(r.exists("vbq:relay:lock")) and any(s["open"] for s in streams) and pinged

    try:
        wait_until(ready, timeout_s=60, what="worker, beat and subscriber ready", detail=tails)
        yield settings
        assert all(p.alive() for p in roles), tails()
    finally:
        app.close()
        r.close()
        for role in roles:
            role.signal(15)
        for role in roles:
            role.stop(timeout_s=10)


def upload_inputs(storage_client: Any, bucket_name: str) -> tuple[str, str]:
    bucket = storage_client.create_bucket(bucket_name)
    custom = "".join(json.dumps({"x": i, "y": [i, i * i]}) + "\n" for i in range(5))
    prompts = "".join(
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": f"hi {i}"}]}]}})
        + "\n"
        for i in range(5)
    )
    bucket.blob("in/custom.jsonl").upload_from_string(custom)
    bucket.blob("in/prompts.jsonl").upload_from_string(prompts)
    return f"gs://{bucket_name}/in/custom.jsonl", f"gs://{bucket_name}/in/prompts.jsonl"


def test_jobs_flow_through_every_process_and_each_event_is_handled_once(
    pipeline: Settings,
    vertex_emulator: VertexEmulator,
    pubsub_emulator: PubSubEmulator,
    storage_client: Any,
) -> None:
    settings = pipeline
    r = redis.Redis.from_url(settings.redis_url)
    store = JobStore.from_settings(settings)
    # Jobs take ~1 s (PENDING, then RUNNING) so the poller sees intermediate states; some
    # fail, partially succeed or expire, and creates sometimes answer 503 (retried).
    vertex_emulator.configure(
        time_scale=0.15,
        fail_share=0.15,
        partial_share=0.15,
        expire_share=0.1,
        error_503_rate=0.1,
        fault_methods=["create"],
    )
    bucket = f"e2e-{uuid.uuid4().hex[:10]}"
    custom_uri, prompts_uri = upload_inputs(storage_client, bucket)
    items = [
        {
            "job_display_name": f"e2e-{i}",
            "model_name": GEMINI if i % 2 else f"projects/{PROJECT}/locations/us-central1/models/9",
            "gcs_source": prompts_uri if i % 2 else custom_uri,
            "gcs_destination_prefix": f"gs://{bucket}/out",
            "metadata": {"i": i},
        }
        for i in range(JOBS)
    ]
    t0 = time.monotonic()
    with Client.from_settings(settings) as client:
        result = client.submit_many(items)
    assert result.ok, result.errors
    ids = result.ids
    assert len(set(ids)) == JOBS

    def finished() -> bool:
        return all(rec.finished for rec in store.get_many(ids))

    def states() -> dict[str, int]:
        return dict(Counter(rec.state.value for rec in store.get_many(ids)))

    wait_until(finished, timeout_s=60, what="every job finished", detail=states)
    t_jobs = time.monotonic() - t0

    def handled() -> int:
        return int(r.scard("e2e:events"))

    def events_through() -> bool:
        return r.xlen("vbq:outbox") == 0 and handled() >= outbox_added(r)

    wait_until(
        events_through,
        timeout_s=30,
        what="every event published and handled",
        detail=lambda: (r.xlen("vbq:outbox"), outbox_added(r), handled()),
    )
    time.sleep(1.0)  # late redeliveries would show up as second runs
    print(f"{JOBS} jobs finished in {t_jobs:.1f}s, {outbox_added(r)} events; states {states()}")

    recorded = outbox_added(r)
    handled_ids = {v.decode() for v in r.smembers("e2e:events")}
    assert len(handled_ids) == recorded  # one handled event per recorded state change
    assert pubsub_emulator.stats()["published"] == recorded  # and one publish each
    runs = [int(r.get(f"e2e:runs:{eid}") or 0) for eid in handled_ids]
    assert runs == [1] * len(handled_ids)  # the handler ran exactly once per event id

    records = {rec.id: rec for rec in store.get_many(ids)}
    assert {rec.state for rec in records.values()} <= {
        SubmissionState.SUCCEEDED,
        SubmissionState.PARTIALLY_SUCCEEDED,
        SubmissionState.FAILED,
        SubmissionState.EXPIRED,
    }
    for sid, rec in records.items():
        order = [v.decode() for v in r.lrange(f"e2e:order:{sid}", 0, -1)]
        assert order, f"no events for {sid}"
        assert len(order) == len(set(order)), f"{sid}: a state handled twice: {order}"
        assert order[0] == "SUBMITTED" and order[-1] == rec.state.value, order
        assert {event_id_for(sid, s) for s in order} <= handled_ids
    # Every submission reached Vertex exactly once despite the 503s on create.
    per_sub = Counter((j.get("labels") or {}).get("vbq-submission") for j in vertex_emulator.jobs())
    assert {sid: per_sub[sid] for sid in ids} == dict.fromkeys(ids, 1)
