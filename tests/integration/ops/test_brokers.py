"""The submit path end to end on each supported broker: Redis (default) and RabbitMQ.

RabbitMQ is the machine's server at 127.0.0.1:5672 (guest/guest); each run gets its own vhost
(``rabbitmqctl add_vhost vbq-test-<random>``) so parallel runs never share queues. The test
fails, never skips, when RabbitMQ or rabbitmqctl is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.ops.helpers import get_json, scrape, total, wait_healthy
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
from tests.support.services import ManagedProcess, free_port, vbq_argv
from vbq.states import SubmissionState as S
from vbq.store import JobStore

pytestmark = [pytest.mark.integration]

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
N = 20


def _rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise RuntimeError("rabbitmqctl not found: the RabbitMQ test needs it to make a vhost")
    subprocess.run([exe, *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def rabbitmq_url() -> Iterator[str]:
    """amqp:// URL of a fresh vhost on the local RabbitMQ (deleted afterwards)."""
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=5).close()
    except OSError as exc:
        raise RuntimeError(f"RabbitMQ is not reachable at {RABBIT_HOST}:{RABBIT_PORT}") from exc
    vhost = f"vbq-test-{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProc]:
    emu = EmulatorProc(tmp_path_factory.mktemp("vertex")).start()
    yield emu
    emu.stop()


@pytest.fixture
def procs() -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for p in started:
        p.kill()


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_submissions_go_through_each_broker_exactly_once(
    broker: str,
    request: pytest.FixtureRequest,
    redis_url: str,
    shared_emulator: EmulatorProc,
    log_dir: Path,
    procs: list[ManagedProcess],
) -> None:
    shared_emulator.reset()
    broker_url = redis_url if broker == "redis" else request.getfixturevalue("rabbitmq_url")
    port = free_port()
    env = worker_env(
        redis_url,
        shared_emulator.url,
        VBQ_BROKER_URL=broker_url,
        VBQ_METRICS_PORT=str(port),
        VBQ_METRICS_HOST="127.0.0.1",
    )
    settings = settings_from(env)
    procs.extend(start_workers(1, env | {"VBQ_METRICS_PORT": "0"}, log_dir, tag=broker))
    # One prefork worker with the health server: its /readyz checks this broker.
    argv = vbq_argv("worker", "--pool", "prefork", "--concurrency", "2", "-n", f"hp-{port}@t")
    health = ManagedProcess(f"{broker}-health", argv, log_dir=log_dir, env=env).start()
    procs.append(health)
    wait_healthy(port, health)

    store = JobStore(redis.Redis.from_url(redis_url, decode_responses=True), settings=settings)
    ids = create_submissions(store, N)
    enqueuer(settings).submit_many(ids)
    done = {S.SUBMITTED, S.QUEUED, S.PENDING, S.RUNNING}
    wait_until(
        lambda: all(s in done for s in states(store, ids).values()),
        timeout_s=60,
        what=f"all submitted via {broker}",
        on_timeout=lambda: logs_tail(procs),
    )
    per_label = jobs_per_submission(shared_emulator.jobs())
    assert {i: per_label.get(i, 0) for i in ids} == dict.fromkeys(ids, 1)
    # The messages really went through the chosen broker: kombu's Redis bindings exist only there.
    bindings = redis.Redis.from_url(redis_url).exists("_kombu.binding.vbq")
    assert bindings == (1 if broker == "redis" else 0)
    status, body = get_json(port, "/readyz")
    assert status == 200, body
    assert body["checks"] == {"redis": "ok", "broker": "ok"}
    creates = total(scrape(port), "vbq_vertex_api_calls_total", method="create")
    assert 0 <= creates <= N
