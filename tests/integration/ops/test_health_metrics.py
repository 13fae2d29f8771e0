"""Every long-running role serves /healthz, /readyz and /metrics, and the metrics move.

One small pipeline with real processes: `vbq worker` (prefork, multiprocess metrics), `vbq beat`
(--no-relay), `vbq relay`, `vbq subscribe`, `vbq api`, on the Vertex emulator, the Pub/Sub
emulator and a private Redis.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.integration.ops.helpers import (
    HANDLER,
    create_event_resources,
    event_names,
    get_json,
    scrape,
    start_role,
    total,
    wait_healthy,
)
from tests.integration.workers.harness import (
    EmulatorProc,
    create_submissions,
    enqueuer,
    settings_from,
    states,
    wait_until,
    worker_env,
)
from tests.support.services import REPO_ROOT, ManagedProcess, free_port, vbq_argv
from vbq.states import SubmissionState as S
from vbq.store import JobStore

pytestmark = [pytest.mark.integration]

N = 20


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProc]:
    emu = EmulatorProc(tmp_path / "vertex").start()
    yield emu
    emu.stop()


@pytest.fixture
def procs() -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for p in started:  # all at once: the roles shut down in parallel
        p.signal(signal.SIGTERM)
    for p in started:
        p.stop(timeout_s=10)


def test_every_role_serves_health_and_metrics_that_move(
    redis_url: str,
    emulator: EmulatorProc,
    shared_pubsub_host: str,
    log_dir: Path,
    procs: list[ManagedProcess],
) -> None:
    env = worker_env(
        redis_url,
        emulator.url,
        PUBSUB_EMULATOR_HOST=shared_pubsub_host,
        # 5 creates/s with a burst of 1: twenty submissions at once must wait for tokens.
        VBQ_CREATE_RATE_PER_MIN="300",
        VBQ_CREATE_BURST="1",
        VBQ_POLL_INTERVAL_S="0.5",
        **event_names(),
    )
    settings = create_event_resources(env)
    roles = {
        "worker": ["worker", "--pool", "prefork", "--concurrency", "2"],
        "beat": ["beat", "--no-relay", "--tick-s", "0.25"],
        "relay": ["relay"],
        "subscriber": ["subscribe", "--handler", HANDLER],
    }
    ports: dict[str, int] = {}
    for role, args in roles.items():
        proc, ports[role] = start_role(role, args, env=env, log_dir=log_dir)
        procs.append(proc)
    api_port = free_port()
    keys = REPO_ROOT / "ops" / "compose" / "api-keys.yaml"  # the compose file's keys file
    api = ManagedProcess(
        "api",
        vbq_argv("api", "--port", str(api_port), "--keys-file", str(keys)),
        log_dir=log_dir,
        env=env,
        port=api_port,
    ).start()
    procs.append(api)
    for role, proc in zip(roles, procs, strict=False):
        wait_healthy(ports[role], proc)
    ports["api"] = api_port

    for role, port in ports.items():
        status, body = get_json(port, "/readyz")
        assert status == 200, (role, body)
        assert set(body["checks"]) >= {"redis"}  # type: ignore[arg-type]
        assert get_json(port, "/healthz")[0] == 200, role

    store = JobStore(redis.Redis.from_url(redis_url, decode_responses=True), settings=settings)
    ids = create_submissions(store, N)
    enqueuer(settings_from(env)).submit_many(ids)
    done = {S.SUBMITTED, S.QUEUED, S.PENDING, S.RUNNING}
    wait_until(
        lambda: all(s in done for s in states(store, ids).values()),
        timeout_s=60,
        what="all submitted",
    )
    r = redis.Redis.from_url(redis_url)
    wait_until(
        lambda: sum(int(v or 0) for v in r.mget([f"test:runs:{i}:SUBMITTED" for i in ids])) >= N,
        timeout_s=30,
        what="job.submitted handled",
    )

    w = scrape(ports["worker"])  # the parent aggregates its prefork children
    assert total(w, "vbq_vertex_api_calls_total", method="create", status="200") == N
    assert total(w, "vbq_submit_latency_seconds_count") == N
    assert total(w, "vbq_submissions_submitted_total", tenant="t1") == N
    assert total(w, "vbq_rate_limit_waits_total", kind="create") > 0
    assert total(w, "vbq_rate_limit_wait_seconds_count", kind="create") > 0
    wait_until(
        lambda: total(scrape(ports["worker"]), "vbq_poll_cycle_duration_seconds_count") > 0,
        timeout_s=20,
        what="a poll cycle",
    )
    assert total(scrape(ports["worker"]), "vbq_vertex_api_calls_total", method="list") > 0

    b = scrape(ports["beat"])  # the system-wide gauges, read from Redis at scrape time
    assert total(b, "vbq_redis_up") == 1
    assert total(b, "vbq_submissions") == N
    assert total(b, "vbq_submissions_by_tenant", tenant="t1") == N
    assert total(b, "vbq_slots_in_use") == N
    assert ("vbq_outbox_depth", ()) in b and ("vbq_outbox_oldest_age_seconds", ()) in b

    assert total(scrape(ports["relay"]), "vbq_events_published_total") >= N
    s = scrape(ports["subscriber"])
    assert total(s, "vbq_handler_runs_total") >= N
    assert total(s, "vbq_subscriber_messages_total", outcome="handled") >= N
    a = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=10)
    assert a.status_code == 200 and "vbq_" in a.text


def test_readyz_reports_a_dead_redis_while_healthz_stays_up(
    shared_pubsub_host: str, log_dir: Path, procs: list[ManagedProcess]
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = {
        "VBQ_REDIS_URL": dead,
        "VBQ_PROJECT": "vbq-test-project",
        "PUBSUB_EMULATOR_HOST": shared_pubsub_host,
        "VBQ_LOG_FORMAT": "json",
        **event_names(),
    }
    create_event_resources(env)
    proc, port = start_role("relay-dead-redis", ["relay"], env=env, log_dir=log_dir)
    procs.append(proc)
    wait_healthy(port, proc)
    status, body = get_json(port, "/readyz")
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["pubsub"] == "ok"
    assert checks["redis"] != "ok"
    samples = scrape(port)
    assert total(samples, "vbq_redis_up") == 0
