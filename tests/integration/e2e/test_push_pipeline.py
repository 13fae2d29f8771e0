"""The whole pipeline with a push-mode subscriber instead of streaming pull.

vbq.producers.Client → ``vbq worker`` → Vertex emulator → ``vbq beat`` (poll + relay) → Pub/Sub
emulator → push subscription → ``vbq subscribe --push`` (tests/integration/events/handlers.py,
each run sleeping 0.5 s), killed with SIGKILL while a handler runs and started again on the same
port. Every state change is handled exactly once, in order per job.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.e2e.test_pipeline import GEMINI, env, upload_inputs, wait_until
from tests.support.emulators import VertexEmulator
from tests.support.pubsub import PubSubEmulator
from tests.support.services import ManagedProcess, free_port, vbq_argv, wait_for_port
from vbq.producers import Client
from vbq.pubsub.admin import ensure_event_resources
from vbq.settings import Settings
from vbq.store import JobStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["env"]  # the fixture, shared with test_pipeline.py

JOBS = 10
HANDLER = "tests.integration.events.handlers:record"


def _push_role(env: dict[str, str], logs: Path, port: int, n: int) -> ManagedProcess:
    args = ["subscribe", "--handler", HANDLER, "--push", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--claim-lease-s", "2", "--threads", "8"]
    args += ["--create", "--endpoint", f"http://127.0.0.1:{port}/"]
    return ManagedProcess(f"push-{n}", vbq_argv(*args), log_dir=logs, env=env).start()


def _wait_listening(proc: ManagedProcess, port: int) -> None:
    # The roles log at WARNING here, so readiness is the port, not a log line.
    wait_for_port(port, timeout_s=30, proc=proc.proc, log=proc.log)


def test_push_subscriber_handles_every_state_change_once_through_a_sigkill(
    env: dict[str, str],
    tmp_path: Path,
    vertex_emulator: VertexEmulator,
    pubsub_emulator: PubSubEmulator,
    storage_client: Any,
) -> None:
    env = {**env, "TEST_HANDLER_SLEEP_S": "0.5"}
    settings = Settings.from_env(env)
    ensure_event_resources(settings)
    logs = tmp_path / "logs"
    port = free_port()
    name = f"e2e-{uuid.uuid4().hex[:8]}@test"
    worker = ManagedProcess(
        "worker",
        vbq_argv("worker", "--pool", "threads", "--concurrency", "4", "--hostname", name),
        log_dir=logs,
        env=env,
    ).start()
    beat = ManagedProcess("beat", vbq_argv("beat", "--tick-s", "0.2"), log_dir=logs, env=env)
    beat.start()
    push = _push_role(env, logs, port, 1)
    restarted: ManagedProcess | None = None
    r = redis.Redis.from_url(settings.redis_url)
    try:
        _wait_listening(push, port)
        vertex_emulator.configure(time_scale=0.15, fail_share=0.2, partial_share=0.2)
        bucket = f"e2e-{uuid.uuid4().hex[:10]}"
        _, prompts_uri = upload_inputs(storage_client, bucket)
        items = [
            {
                "job_display_name": f"push-{i}",
                "model_name": GEMINI,
                "gcs_source": prompts_uri,
                "gcs_destination_prefix": f"gs://{bucket}/out",
            }
            for i in range(JOBS)
        ]
        with Client.from_settings(settings) as client:
            result = client.submit_many(items)
        assert result.ok, result.errors
        ids = result.ids

        def started_in(proc: ManagedProcess) -> list[str]:
            prefix = f"{proc.pid}:"
            return [
                v.decode().split(":", 1)[1]
                for v in r.lrange("test:pids", 0, -1)
                if v.decode().startswith(prefix)
            ]

        wait_until(lambda: bool(started_in(push)), timeout_s=60, what="a handler in push-1")
        push.kill()
        cut_short = started_in(push)
        restarted = _push_role(env, logs, port, 2)
        _wait_listening(restarted, port)
        store = JobStore.from_settings(settings)
        wait_until(
            lambda: all(rec.finished for rec in store.get_many(ids)),
            timeout_s=90,
            what="every job finished",
        )

        def recorded() -> int:
            return int(r.get("vbq:outbox:added") or 0)

        def handled() -> int:
            return len([k for k in r.scan_iter("test:runs:*")])

        wait_until(
            lambda: r.xlen("vbq:outbox") == 0 and handled() >= recorded(),
            timeout_s=90,
            what="every event handled",
            detail=lambda: (r.xlen("vbq:outbox"), recorded(), handled()),
        )
        time.sleep(1.5)  # late redeliveries would show up as second runs
        runs = {k.decode(): int(r.get(k) or 0) for k in r.scan_iter("test:runs:*")}
        assert len(runs) == recorded()  # every state change handled...
        assert Counter(runs.values()) == Counter({1: len(runs)})  # ...exactly once
        assert any(r.get(f"test:started:{e}") == b"2" for e in cut_short), "no handler cut short"
        for rec in store.get_many(ids):
            states = [v.decode() for v in r.lrange(f"test:order:{rec.id}", 0, -1)]
            assert states[0] == "SUBMITTED" and states[-1] == rec.state.value, states
            assert len(states) == len(set(states)), states
        stats = pubsub_emulator.stats()["subscriptions"][settings.events_subscription_path()]
        assert stats["push"]["acked"] >= recorded()
    finally:
        r.close()
        for role in (worker, beat, push, restarted):
            if role is not None:
                role.signal(15)
        for role in (worker, beat, push, restarted):
            if role is not None:
                role.stop(timeout_s=10)
