"""Invariant 5 (docs/architecture.md § Invariants) end to end: nothing invalid reaches Google,
and no process dies.

A real ``vbq worker`` consumes the broker while hostile input arrives through every door:
the Python client, the HTTP API (vbq's own and Google's surface), forged broker messages (bad
ids, unknown ids, a pickled payload, bytes that are not a message at all) and a corrupted
record in the job store. The Vertex emulator's create counter must stay 0 the whole time; then
one valid request goes through the same path and is created exactly once (the control that
proves the path was live).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu import Exchange
from starlette.testclient import TestClient

from tests.hostile.strategies import VALID, nested
from tests.support.emulators import VertexEmulator
from tests.support.services import ManagedProcess, vbq_argv
from vbq.errors import SpecError
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings
from vbq.workers.celery_app import create_app as create_celery_app

pytestmark = pytest.mark.integration

KEY = generate_api_key()
INVALID: list[dict[str, Any]] = [
    {},
    {"model_name": "x"},
    {**VALID, "gcs_source": "http://not-gcs/x"},
    {**VALID, "machine_type": "n1-standard-4", "accelerator_type": "NOT_A_GPU"},
    {**VALID, "labels": {"vbq-submission": "0" * 32}},
    {**VALID, "labels": {"Bad Key": "v"}},
    {**VALID, "model_parameters": {"t": float("nan")}},
    {**VALID, "instances_format": "exe"},
    {**VALID, "credentials": "x"},
    {**VALID, "location": "../../etc"},
]
REST_BODY: dict[str, Any] = {
    "displayName": "hostile",
    "model": "publishers/google/models/gemini-2.0-flash-001",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://hostile-in/x"]}},
    "outputConfig": {
        "predictionsFormat": "jsonl",
        "gcsDestination": {"outputUriPrefix": "gs://hostile-out/out"},
    },
}
# Create bodies of Google's REST surface that Google's own message types (or vbq) refuse.
INVALID_REST: list[Any] = [
    [],
    {},
    {**REST_BODY, "unknownField": 1},
    {**REST_BODY, "displayName": {"a": 1}},
    {**REST_BODY, "inputConfig": {"gcsSource": {"uris": "gs://hostile-in/x"}}},
    {**REST_BODY, "dedicatedResources": {"machineSpec": {"acceleratorType": "NOT_A_GPU"}}},
    {**REST_BODY, "labels": {"vbq-submission": "0" * 32}},
    {**REST_BODY, "instanceConfig": {"instanceType": "object"}},
    {**REST_BODY, "model": "123"},
    {**REST_BODY, "createTime": "yesterday"},
]


@pytest.fixture
def cluster(
    redis_url: str, vertex_emulator: VertexEmulator, tmp_path: Path
) -> Iterator[tuple[Settings, ManagedProcess]]:
    env = {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_VERTEX_ENDPOINT": vertex_emulator.url,
        "VBQ_PROJECT": "hostile",
        "VBQ_CREATE_RATE_PER_MIN": "600000",
        "VBQ_CREATE_BURST": "100",
        "VBQ_RETRY_BASE_S": "0.05",
        "VBQ_RETRY_MAX_S": "0.5",
        "VBQ_VISIBILITY_TIMEOUT_S": "30",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "INFO",
    }
    name = f"hostile-{uuid.uuid4().hex[:8]}@test"
    worker = ManagedProcess(
        "worker",
        vbq_argv(
            "worker", "--pool", "solo", "--queues", "vbq.submit,vbq.cancel", "--hostname", name
        ),
        log_dir=tmp_path,
        env=env,
    ).start()
    settings = Settings.from_env(env)
    app = create_celery_app(settings)
    try:
        deadline = time.monotonic() + 60
        while not (app.control.ping([name], timeout=0.5) or []):
            assert worker.alive(), worker.log_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not answer a ping"
        yield settings, worker
    finally:
        app.close()
        worker.stop()


def _forge_broker_messages(settings: Settings, r: redis.Redis) -> None:
    app = create_celery_app(settings)
    try:
        for args in (["not-an-id"], [123], [None], ["f" * 32], ["F" * 32], [nested(500)]):
            app.send_task("vbq.submit", args=args, queue="vbq.submit")
        app.send_task("vbq.submit", args=["a" * 32], kwargs={"evil": 1}, queue="vbq.submit")
        app.send_task("vbq.cancel", args=["../../x"], queue="vbq.cancel")
        with app.connection_for_write() as conn:
            # A pickled task message: refused by accept_content (json only), never executed.
            conn.Producer().publish(
                {"args": ["b" * 32]},
                serializer="pickle",
                exchange=Exchange("vbq", type="direct"),
                routing_key="vbq.submit",
                headers={"task": "vbq.submit", "id": str(uuid.uuid4())},
            )
    finally:
        app.close()


def test_hostile_input_through_every_door_never_reaches_vertex(
    cluster: tuple[Settings, ManagedProcess], vertex_emulator: VertexEmulator, redis_url: str
) -> None:
    settings, worker = cluster
    client = Client.from_settings(settings)
    r = redis.Redis.from_url(redis_url)
    api = TestClient(
        create_app(
            client=client,
            keyring=ApiKeyRing.from_mapping({hash_api_key(KEY): "team-a"}),
            max_body_bytes=64 * 1024,
        ),
        raise_server_exceptions=False,
    )
    auth = {"Authorization": f"Bearer {KEY}"}
    for kwargs in INVALID:
        with pytest.raises(SpecError):
            client.submit(**kwargs)
        body = json.dumps(kwargs, allow_nan=True).encode()
        resp = api.post("/v1/submissions", content=body, headers=auth)
        assert 400 <= resp.status_code < 500, resp.text
    for rest in INVALID_REST:
        resp = api.post(
            "/v1/projects/hostile/locations/us-central1/batchPredictionJobs",
            json=rest,
            headers=auth,
        )
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    batch = api.post("/v1/submissions:batch", json={"items": INVALID[:6]}, headers=auth)
    assert batch.status_code in (200, 422) and not batch.json().get("accepted"), batch.text
    result = client.submit_many(INVALID)
    assert not result.ids

    # A record corrupted in the store (someone with Redis access, or a bad migration).
    bad_id = "c" * 32
    r.hset(f"vbq:sub:{bad_id}", mapping={"id": bad_id, "state": "ACCEPTED", "spec": "{not json"})
    _forge_broker_messages(settings, r)
    app = create_celery_app(settings)
    try:
        app.send_task("vbq.submit", args=[bad_id], queue="vbq.submit")
    finally:
        app.close()

    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        assert vertex_emulator.stats()["requests"].get("create", 0) == 0
        assert worker.alive(), worker.log_text()[-3000:]
        if r.llen("vbq.submit") == 0:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    assert vertex_emulator.stats()["requests"].get("create", 0) == 0
    assert vertex_emulator.jobs() == []
    assert worker.alive(), worker.log_text()[-3000:]

    # Control: the same path is live, and a valid request is created exactly once.
    good = client.submit(**VALID)
    deadline = time.monotonic() + 30
    while vertex_emulator.stats()["requests"].get("create", 0) < 1:
        assert worker.alive(), worker.log_text()[-3000:]
        assert time.monotonic() < deadline, worker.log_text()[-3000:]
        time.sleep(0.2)
    jobs = vertex_emulator.jobs()
    assert [j["labels"]["vbq-submission"] for j in jobs] == [good.submission_id]
    client.close()


def test_raw_garbage_on_the_broker_does_not_kill_the_worker(
    cluster: tuple[Settings, ManagedProcess], redis_url: str
) -> None:
    _settings, worker = cluster
    r = redis.Redis.from_url(redis_url)
    r.lpush("vbq.submit", b"\x00not a kombu message\xff")
    r.lpush("vbq.submit", b"[1, 2, 3]")
    deadline = time.monotonic() + 15
    while r.llen("vbq:dead-letter:broker") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert worker.alive(), worker.log_text()[-2000:]
    # Both entries were dead-lettered (as kombu decoded them) and the worker went on.
    dead = r.lrange("vbq:dead-letter:broker", 0, -1)
    assert len(dead) == 2
    assert b"[1, 2, 3]" in dead
    assert any(b"not a kombu message" in entry for entry in dead)
