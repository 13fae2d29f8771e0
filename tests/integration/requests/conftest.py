"""A request pipeline with real processes: ``vbq worker`` and ``vbq beat`` (no relay, no
subscriber: requests are answered without any user subscriber), the Vertex and storage
emulators and the session's Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.requests.inproc import Flow
from tests.support.emulators import GcsEmulator, VertexEmulator
from tests.support.services import ManagedProcess, vbq_argv
from vbq.settings import Settings
from vbq.workers.celery_app import create_app

PROJECT = "vbq-requests"


def wait_until(check: Callable[[], Any], *, timeout_s: float, what: str, detail: Any = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    info = detail() if callable(detail) else detail
    raise AssertionError(f"{what} not reached within {timeout_s}s: {info}")


@dataclass
class Pipeline:
    settings: Settings
    bucket: str
    roles: list[ManagedProcess]

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_text()[-2500:]}" for p in self.roles)


def request_env(
    redis_url: str, vertex: VertexEmulator, gcs: GcsEmulator, bucket: str
) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_VERTEX_ENDPOINT": vertex.url,
        "STORAGE_EMULATOR_HOST": gcs.host,
        "VBQ_PACK_PREFIX": f"gs://{bucket}/vbq",
        "VBQ_CREATE_RATE_PER_MIN": "60000",
        "VBQ_CREATE_BURST": "50",
        "VBQ_READ_RATE_PER_MIN": "60000",
        "VBQ_READ_BURST": "50",
        "VBQ_RETRY_BASE_S": "0.05",
        "VBQ_RETRY_MAX_S": "0.5",
        "VBQ_HTTP_TIMEOUT_S": "10",
        "VBQ_VISIBILITY_TIMEOUT_S": "60",
        "VBQ_POLL_INTERVAL_S": "0.3",
        "VBQ_POLL_MAX_INTERVAL_S": "1",
        "VBQ_SHUTDOWN_GRACE_S": "5",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def start_pipeline(
    redis_url: str,
    vertex_emulator: VertexEmulator,
    gcs_emulator: GcsEmulator,
    storage_client: Any,
    tmp_path: Path,
) -> Iterator[Callable[..., Pipeline]]:
    """Call with env overrides; starts a worker and beat, yields the pipeline."""
    started: list[ManagedProcess] = []

    def start(**overrides: str) -> Pipeline:
        bucket = f"req-{uuid.uuid4().hex[:10]}"
        storage_client.create_bucket(bucket)
        env = {**request_env(redis_url, vertex_emulator, gcs_emulator, bucket), **overrides}
        settings = Settings.from_env(env)
        name = f"req-{uuid.uuid4().hex[:8]}@test"
        roles = [
            ManagedProcess(
                "worker",
                vbq_argv("worker", "--pool", "threads", "--concurrency", "4", "--hostname", name),
                log_dir=tmp_path / "logs",
                env=env,
            ),
            ManagedProcess(
                "beat",
                vbq_argv("beat", "--tick-s", "0.2", "--no-relay"),
                log_dir=tmp_path / "logs",
                env=env,
            ),
        ]
        for role in roles:
            role.start()
        started.extend(roles)
        app = create_app(settings)
        try:
            pipeline = Pipeline(settings=settings, bucket=bucket, roles=roles)

            def ready() -> bool:
                dead = [p.name for p in roles if not p.alive()]
                assert not dead, f"{dead} exited:\n{pipeline.tails()}"
                return any(name in reply for reply in app.control.ping([name], timeout=0.3) or [])

            wait_until(ready, timeout_s=60, what="worker ready", detail=pipeline.tails)
        finally:
            app.close()
        return pipeline

    yield start
    for role in started:
        role.signal(15)
    for role in started:
        role.stop(timeout_s=10)


def outbox_events(redis_url: str) -> list[dict[str, Any]]:
    """Every event in the outbox (the relay is off in these tests)."""
    import json

    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(fields[b"event"]) for _, fields in client.xrange("vbq:outbox")]
    finally:
        client.close()


@pytest.fixture
def make_flow(
    redis_url: str, vertex_emulator: VertexEmulator, gcs_emulator: GcsEmulator, storage_client: Any
) -> Iterator[Any]:
    flows: list[Flow] = []

    def make(**extra: str) -> Flow:
        bucket = f"rq-{uuid.uuid4().hex[:10]}"
        storage_client.create_bucket(bucket)
        env = {
            "VBQ_REDIS_URL": redis_url,
            "VBQ_BROKER_URL": redis_url,
            "VBQ_PROJECT": "vbq-requests",
            "VBQ_VERTEX_ENDPOINT": vertex_emulator.url,
            "VBQ_PACK_PREFIX": f"gs://{bucket}/vbq",
            "VBQ_PACK_MAX_ROWS": "50",
            "VBQ_PACK_MAX_WAIT_S": "0.5",
            "VBQ_CREATE_RATE_PER_MIN": "60000",
            "VBQ_CREATE_BURST": "50",
            "VBQ_READ_RATE_PER_MIN": "60000",
            "VBQ_READ_BURST": "50",
            **extra,
        }
        flow = Flow(Settings.from_env(env))
        flows.append(flow)
        return flow

    vertex_emulator.configure(shuffle_output=True)
    make.flows = flows  # type: ignore[attr-defined]
    yield make
    for flow in flows:
        flow.close()
