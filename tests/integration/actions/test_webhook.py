"""Webhook action end to end: Pub/Sub emulator → ``vbq subscribe --actions`` → flaky receiver.

The receiver (examples/webhook_receiver.py behind a test-only outage) answers 500 for the
first seconds, half of them after acting (lost responses). Every event must still arrive, and
the receiver, deduplicating by event id, must act on each exactly once.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.integration.actions.helpers import sid
from tests.integration.events.helpers import start_role, wait_until
from tests.support.pubsub import PubSubEmulator
from tests.support.services import ManagedProcess, free_port
from vbq.events import JobEvent
from vbq.pubsub.admin import ensure_event_resources, publisher_client
from vbq.settings import Settings
from vbq.subscribers.actions import signature_header

pytestmark = pytest.mark.integration

SECRET = "whsec-test-0123456789"
PROJECT = "vbq-test"


def _receiver(tmp_path: Path, fail_for_s: float) -> tuple[ManagedProcess, str, Path]:
    port = free_port()
    acted = tmp_path / "acted.jsonl"
    proc = ManagedProcess(
        f"receiver-{port}",
        [sys.executable, "-m", "tests.integration.actions.flaky_receiver", "--port", str(port),
         "--db", str(tmp_path / "receiver.sqlite"), "--acted", str(acted),
         "--fail-for-s", str(fail_for_s)],
        log_dir=tmp_path / "logs",
        env={"WEBHOOK_SECRET": SECRET},
        port=port,
    ).start()  # fmt: skip
    return proc, f"http://127.0.0.1:{port}", acted


def _acted_ids(acted: Path) -> list[str]:
    if not acted.exists():
        return []
    return [json.loads(line)["event_id"] for line in acted.read_text().splitlines()]


def _run_outage(
    tmp_path: Path, redis_url: str, emulator: PubSubEmulator, *, fail_for_s: float, budget_s: float
) -> None:
    receiver, base, acted = _receiver(tmp_path, fail_for_s)
    settings = Settings(project=PROJECT, redis_url=redis_url, pubsub_emulator_host=emulator.host)
    ensure_event_resources(settings)
    actions = tmp_path / "actions.yaml"
    actions.write_text(
        "actions:\n"
        "  - name: hook\n"
        "    on: [job.succeeded, job.failed]\n"
        "    action: webhook\n"
        f"    url: {base}/webhook\n"
        "    secret_env: WEBHOOK_SECRET\n"
        "    timeout_s: 2\n"
        f"    budget_s: {budget_s}\n"
        "    backoff_base_s: 0.2\n"
        "    backoff_max_s: 1\n"
    )
    env = {
        "VBQ_REDIS_URL": redis_url,
        "PUBSUB_EMULATOR_HOST": emulator.host,
        "VBQ_PROJECT": PROJECT,
        "VBQ_LOG_FORMAT": "json",
        "VBQ_SHUTDOWN_GRACE_S": "5",
        "WEBHOOK_SECRET": SECRET,
    }
    sub = start_role(
        "subscribe",
        ["subscribe", "--actions", str(actions), "--threads", "8"],
        log_dir=tmp_path / "logs",
        env=env,
        ready="subscriber.started",
    )
    publisher = publisher_client(settings)
    try:
        events = [
            JobEvent.create(
                type="job.succeeded" if i % 3 else "job.failed",
                submission_id=sid(100 + i),
                state="SUCCEEDED" if i % 3 else "FAILED",
                previous_state="RUNNING",
                job={"name": f"projects/p/locations/l/batchPredictionJobs/{i}"},
            )
            for i in range(12)
        ]
        topic = settings.events_topic_path()
        for e in events:
            publisher.publish(  # the topic validates vbq's event schema
                topic, e.to_schema_json().encode(), ordering_key=e.ordering_key, **e.attributes()
            ).result(timeout=10)
        want = sorted(e.event_id for e in events)
        group = settings.events_subscription
        r = redis.Redis.from_url(redis_url)

        def all_done() -> bool:
            # "done" in the inbox = the webhook got a 2xx and the message was acked.
            values = r.mget([f"vbq:inbox:{group}:{e}" for e in want])
            return all(v == b"done" for v in values)

        t0 = time.monotonic()
        wait_until(all_done, timeout_s=fail_for_s + 60, what="every event delivered", poll_s=0.2)
        took_s = time.monotonic() - t0
        print(f"all delivered {took_s:.1f}s after publishing (outage {fail_for_s}s)")
        assert took_s >= fail_for_s * 0.9  # nothing could be confirmed during the outage
        time.sleep(1.0)  # late retries would show up as double actions
        assert sorted(_acted_ids(acted)) == want  # exactly once each
        stats = httpx.get(f"{base}/stats", timeout=5).json()
        outage = httpx.get(f"{base}/outage", timeout=5).json()
        print("receiver", stats, "outage", outage)
        assert outage["refused"] >= 1 and outage["lost"] >= 1
        assert stats["duplicates"] >= 1  # lost responses were retried and deduplicated
        assert stats["events"] == len(events) and stats["refused"] == 0
        log = sub.log_text()
        # The handler gave up within its budget at least once: the message was nacked and
        # came back from Pub/Sub.
        assert "subscriber.handler_failed" in log
        assert SECRET not in log
        assert sub.alive()
    finally:
        sub.stop()
        receiver.stop()


def test_events_survive_a_3s_receiver_outage_and_act_once(
    tmp_path: Path, redis_url: str, pubsub_emulator: PubSubEmulator
) -> None:
    _run_outage(tmp_path, redis_url, pubsub_emulator, fail_for_s=3.0, budget_s=1.0)


@pytest.mark.slow
def test_events_survive_a_60s_receiver_outage_and_act_once(
    tmp_path: Path, redis_url: str, pubsub_emulator: PubSubEmulator
) -> None:
    _run_outage(tmp_path, redis_url, pubsub_emulator, fail_for_s=60.0, budget_s=15.0)


def test_receiver_refuses_bad_and_stale_signatures(tmp_path: Path) -> None:
    receiver, base, acted = _receiver(tmp_path, 0.0)
    try:
        event = JobEvent.create(
            type="job.succeeded", submission_id=sid(7), state="SUCCEEDED", previous_state=None
        )
        body = event.to_bytes()

        def post(ts: int, sig: str | None, **extra: str) -> httpx.Response:
            headers = {"X-Vbq-Timestamp": str(ts), "X-Vbq-Event-Id": event.event_id, **extra}
            if sig is not None:
                headers["X-Vbq-Signature"] = sig
            return httpx.post(f"{base}/webhook", content=body, headers=headers, timeout=5)

        now = int(time.time())
        assert post(now, signature_header("wrong-secret", now, body)).status_code == 401
        stale = now - 301
        assert post(stale, signature_header(SECRET, stale, body)).status_code == 401
        assert post(now, None).status_code == 400
        # A signature for another timestamp (replayed body, fresh timestamp) fails too.
        assert post(now, signature_header(SECRET, now - 10, body)).status_code == 401
        assert _acted_ids(acted) == []
        good = post(now, signature_header(SECRET, now, body))
        assert good.status_code == 200 and good.json()["duplicate"] is False
        again = post(now, signature_header(SECRET, now, body))
        assert again.status_code == 200 and again.json()["duplicate"] is True
        mismatch = post(now, signature_header(SECRET, now, body), **{"X-Vbq-Event-Id": "x:y"})
        assert mismatch.status_code == 400
        assert _acted_ids(acted) == [event.event_id]
    finally:
        receiver.stop()
