"""Real ``vbq beat`` processes: two at once, then both killed and one restarted.

Two beats started by mistake must cause no duplicate event; a beat killed with SIGKILL and
started again later must publish every change that happened while none ran. The subscriber's
handler (tests/integration/e2e/handlers.py) counts runs per event id in Redis.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.e2e.test_pipeline import (  # noqa: F401 (fixtures)
    GEMINI,
    env,
    outbox_added,
    upload_inputs,
    wait_until,
)
from tests.support.emulators import VertexEmulator
from tests.support.pubsub import PubSubEmulator
from tests.support.services import ManagedProcess, vbq_argv
from vbq.producers import Client
from vbq.pubsub.admin import ensure_event_resources
from vbq.settings import Settings
from vbq.store import JobStore
from vbq.workers.celery_app import create_app

pytestmark = pytest.mark.integration

JOBS = 24
# How long no beat runs while jobs finish (the figure is 30 s: set it for a full run).
DOWN_S = float(os.environ.get("VBQ_TEST_BEAT_DOWN_S", "5"))


def test_two_beats_then_none_then_one_publish_every_change_once(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    vertex_emulator: VertexEmulator,
    pubsub_emulator: PubSubEmulator,
    storage_client: Any,
) -> None:
    settings = Settings.from_env(env)
    ensure_event_resources(settings)
    logs = tmp_path / "logs"
    name = f"beat-test-{uuid.uuid4().hex[:8]}@test"
    worker = ManagedProcess(
        "worker",
        vbq_argv("worker", "--pool", "threads", "--concurrency", "4", "--hostname", name),
        log_dir=logs,
        env=env,
    )
    subscriber = ManagedProcess(
        "subscribe",
        vbq_argv("subscribe", "--handler", "tests.integration.e2e.handlers", "--create"),
        log_dir=logs,
        env=env,
    )

    def beat(tag: str) -> ManagedProcess:
        return ManagedProcess(tag, vbq_argv("beat", "--tick-s", "0.2"), log_dir=logs, env=env)

    beats = [beat("beat-a").start(), beat("beat-b").start()]
    worker.start()
    subscriber.start()
    everyone = [worker, subscriber, *beats]
    r = redis.Redis.from_url(settings.redis_url)
    app = create_app(settings)
    store = JobStore.from_settings(settings)

    def tails() -> str:
        return "\n".join(f"--- {p.name}\n{p.log_text()[-1500:]}" for p in everyone)

    try:
        wait_until(
            lambda: (
                bool(app.control.ping([name], timeout=0.3)) and bool(r.exists("vbq:relay:lock"))
            ),
            timeout_s=60,
            what="worker and beats ready",
            detail=tails,
        )
        # Jobs take a few seconds, so the beats are killed while most are unfinished.
        vertex_emulator.configure(time_scale=0.5, queued_s=2, run_s=4, fail_share=0.2)
        bucket = f"beat-{uuid.uuid4().hex[:10]}"
        custom_uri, prompts_uri = upload_inputs(storage_client, bucket)
        items = [
            {
                "job_display_name": f"beat-{i}",
                "model_name": GEMINI
                if i % 2
                else "projects/vbq-e2e/locations/us-central1/models/9",
                "gcs_source": prompts_uri if i % 2 else custom_uri,
                "gcs_destination_prefix": f"gs://{bucket}/out",
            }
            for i in range(JOBS)
        ]
        with Client.from_settings(settings) as client:
            result = client.submit_many(items)
        assert result.ok, result.errors
        ids = result.ids

        def submitted() -> bool:
            return all(rec.job_name for rec in store.get_many(ids))

        wait_until(submitted, timeout_s=30, what="every job created", detail=tails)
        time.sleep(0.5)  # both beats poll a few cycles side by side
        for b in beats:
            b.kill()
        unfinished_at_kill = sum(not rec.finished for rec in store.get_many(ids))
        time.sleep(DOWN_S)
        # Nothing polls now; the jobs go on finishing on Vertex.
        restarted = beat("beat-c").start()
        everyone.append(restarted)

        def all_finished() -> bool:
            return all(rec.finished for rec in store.get_many(ids))

        wait_until(all_finished, timeout_s=60, what="every job finished", detail=tails)

        def delivered() -> bool:
            return r.xlen("vbq:outbox") == 0 and int(r.scard("e2e:events")) >= outbox_added(r)

        wait_until(
            delivered,
            timeout_s=45,
            what="every event published and handled",
            detail=lambda: (r.xlen("vbq:outbox"), outbox_added(r), r.scard("e2e:events")),
        )
        time.sleep(1.0)
        assert unfinished_at_kill > 0, "the beats were killed after everything finished"
        recorded = outbox_added(r)
        handled = {v.decode() for v in r.smembers("e2e:events")}
        # One outbox entry per state change (no duplicate event id), each handled exactly once.
        assert len(handled) == recorded
        runs = Counter(int(r.get(f"e2e:runs:{eid}") or 0) for eid in handled)
        assert runs == Counter({1: len(handled)})
        for rec in store.get_many(ids):
            order = [v.decode() for v in r.lrange(f"e2e:order:{rec.id}", 0, -1)]
            assert order and order[-1] == rec.state.value, (rec.id, order)
        assert worker.alive() and subscriber.alive() and restarted.alive(), tails()
    finally:
        app.close()
        r.close()
        for p in everyone:
            p.stop(timeout_s=10)
