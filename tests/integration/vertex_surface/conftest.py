"""A running vbq stack for the Google-surface tests: ``vbq api``, a worker, beat, and the Vertex
and Cloud Storage emulators, once for this package (starting processes costs seconds on a shared
machine); tests keep apart by their own labels and buckets and by counting deltas."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.emulators import GcsEmulator, VertexEmulator
from tests.support.services import ManagedProcess, RedisServer, free_port, vbq_argv
from vbq.producers.api import generate_api_key
from vbq.producers.api.auth import key_file_line
from vbq.settings import Settings
from vbq.workers.celery_app import create_app

PROJECT = "surface-proj"
LOCATION = "us-central1"
TENANT = "team-a"
OTHER_TENANT = "team-b"
CREATE_RATE_PER_MIN = 1200
"""vbq's global create limit in this stack (20/s): SDK creates must stay under it at Vertex."""
CREATE_BURST = 10


@dataclass
class Stack:
    """The running stack and what a test needs to talk to it."""

    url: str
    key: str
    other_key: str
    redis_url: str
    settings: Settings
    vertex: VertexEmulator
    worker_metrics_url: str
    processes: list[ManagedProcess]

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_text()[-2500:]}" for p in self.processes)

    def vertex_calls_by_vbq(self) -> int:
        """Vertex calls the worker made (its ``vbq_vertex_api_calls_total`` counters)."""
        text = httpx.get(self.worker_metrics_url, timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("vbq_vertex_api_calls_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)


def _env(redis_url: str, vertex: VertexEmulator, gcs: GcsEmulator, keys: Path) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_LOCATION": LOCATION,
        "VBQ_VERTEX_ENDPOINT": vertex.url,
        "STORAGE_EMULATOR_HOST": gcs.host,
        "VBQ_API_KEYS_FILE": str(keys),
        "VBQ_CREATE_RATE_PER_MIN": str(CREATE_RATE_PER_MIN),
        "VBQ_CREATE_BURST": str(CREATE_BURST),
        "VBQ_READ_RATE_PER_MIN": "60000",
        "VBQ_READ_BURST": "50",
        "VBQ_RETRY_BASE_S": "0.05",
        "VBQ_RETRY_MAX_S": "0.5",
        "VBQ_HTTP_TIMEOUT_S": "5",
        "VBQ_VISIBILITY_TIMEOUT_S": "30",
        "VBQ_POLL_INTERVAL_S": "0.3",
        "VBQ_POLL_MAX_INTERVAL_S": "1",
        "VBQ_SHUTDOWN_GRACE_S": "3",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="package")
def stack(
    redis_server: RedisServer,
    vertex_emulator_session: VertexEmulator,
    gcs_emulator: GcsEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Redis (flushed), the emulators (reset), ``vbq api``, one worker and beat."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    vertex_emulator_session.reset()
    logs = tmp_path_factory.mktemp("surface")
    key, other = generate_api_key(), generate_api_key()
    keys = logs / "keys.yaml"
    keys.write_text(f"{key_file_line(key, TENANT)}\n{key_file_line(other, OTHER_TENANT)}\n")
    env = _env(redis_server.url, vertex_emulator_session, gcs_emulator, keys)
    api_port, metrics_port = free_port(), free_port()
    name = f"surface-{uuid.uuid4().hex[:8]}@test"
    roles = [
        ManagedProcess(
            "api",
            vbq_argv("api", "--host", "127.0.0.1", "--port", str(api_port)),
            log_dir=logs,
            env=env,
            port=api_port,
        ),
        ManagedProcess(
            "worker",
            vbq_argv(
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--hostname",
                name,
                "--metrics-port",
                str(metrics_port),
            ),
            log_dir=logs,
            env=env,
        ),
        ManagedProcess(
            "beat", vbq_argv("beat", "--tick-s", "0.2", "--no-relay"), log_dir=logs, env=env
        ),
    ]
    for role in roles:
        role.start(wait_timeout_s=60)
    settings = Settings.from_env(env)
    app = create_app(settings)
    stack = Stack(
        url=f"http://127.0.0.1:{api_port}",
        key=key,
        other_key=other,
        redis_url=redis_server.url,
        settings=settings,
        vertex=vertex_emulator_session,
        worker_metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        processes=roles,
    )
    try:
        deadline = time.monotonic() + 90
        while not any(name in reply for reply in app.control.ping([name], timeout=0.5) or []):
            assert all(r.alive() for r in roles), stack.tails()
            assert time.monotonic() < deadline, f"worker did not answer in 90 s\n{stack.tails()}"
        yield stack
    finally:
        app.close()
        for role in roles:
            role.stop(timeout_s=10)
        for role in roles:
            assert key not in role.log_text() and other not in role.log_text()
