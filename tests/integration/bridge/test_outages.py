"""Failures around the bridge: a Redis restart mid-stream, a bridge killed with SIGKILL.
Either way every request ends up submitted exactly once and nothing is dead-lettered."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.bridge.conftest import (
    PROJECT,
    Names,
    RunningBridge,
    publish_all,
    stored_records,
    valid_request,
    wait_until,
)
from tests.support.pubsub import PubSubEmulator
from tests.support.services import ManagedProcess, RedisServer, vbq_argv
from vbq.producers.bridge import ensure_bridge_resources
from vbq.settings import Settings

pytestmark = pytest.mark.integration


def test_redis_restart_is_retried_not_dead_lettered(
    tmp_path: Path,
    settings: Settings,
    names: Names,
    emulator: PubSubEmulator,
    publisher: Any,
    run_bridge: Callable[..., RunningBridge],
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        own = settings.replace(redis_url=server.url, broker_url=server.url)
        ensure_bridge_resources(own, [(names.topic, names.subscription)])
        total = 300
        requests = [(json.dumps(valid_request(i)).encode(), {}) for i in range(total)]
        publish_all(publisher, names.topic_path, requests[:20])
        runner = run_bridge(settings=own, subscriptions=[names.subscription], batch_size=20)
        assert wait_until(lambda: runner.bridge.stats().submitted >= 20, 30)
        # SIGKILL (AOF, fsync always, keeps what was acked), then the other 280 arrive while
        # Redis is down. It stays down longer than redis-py's own retries of a command (10,
        # backoff capped at 1 s: about 4 s in all), so the outage reaches the bridge instead
        # of being absorbed by the client.
        server.kill()
        publish_all(publisher, names.topic_path, requests[20:])
        time.sleep(6.0)
        server.start()
        path = names.subscription_path

        def done() -> bool:
            sub = emulator.stats()["subscriptions"].get(path, {})
            return sub.get("backlog", 1) == 0 and sub.get("outstanding", 1) == 0

        assert wait_until(done, 60), runner.bridge.stats()
        runner.stop()
        stats = runner.bridge.stats()
        assert len(stored_records(server.url)) == total
        assert stats.dead_lettered == 0
        assert stats.submitted + stats.replayed >= total
        assert stats.store_retries > 0, "the outage was not noticed; the test proves nothing"
    finally:
        server.stop()


def test_killed_bridge_loses_and_duplicates_nothing(
    tmp_path: Path,
    redis_url: str,
    shared_pubsub_host: str,
    settings: Settings,
    resources: Names,
    publisher: Any,
) -> None:
    total = 400
    env = {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_DEAD_LETTER_TOPIC": resources.dead_letter_topic,
        "PUBSUB_EMULATOR_HOST": shared_pubsub_host,
        "VBQ_LOG_FORMAT": "json",
    }
    argv = vbq_argv(
        "bridge", "--subscription", resources.subscription, "--batch-size", "10",
        "--max-outstanding", "50",
    )  # fmt: skip
    publish_all(
        publisher,
        resources.topic_path,
        [(json.dumps(valid_request(i)).encode(), {}) for i in range(total)],
    )
    first = ManagedProcess("bridge-1", argv, log_dir=tmp_path, env=env).start()
    try:
        assert wait_until(lambda: len(stored_records(redis_url)) >= 50, 60), first.log_text()
        first.signal(signal.SIGKILL)  # mid-batch: some records stored, their acks never sent
        assert first.proc is not None
        first.proc.wait(10)
    finally:
        first.stop()
    killed_at = len(stored_records(redis_url))
    assert killed_at < total, "the first bridge finished before the kill; nothing was tested"
    second = ManagedProcess("bridge-2", argv, log_dir=tmp_path, env=env).start()
    try:
        assert wait_until(lambda: len(stored_records(redis_url)) >= total, 120), second.log_text()
        time.sleep(0.5)  # any redelivery of an already stored message would show up now
    finally:
        assert second.stop(timeout_s=20) == 0, second.log_text()
    records = stored_records(redis_url)
    assert len(records) == total
    final = json.loads(second.log_text().strip().splitlines()[-1])["bridge"]
    assert final["dead_lettered"] == 0
    print(f"killed after {killed_at} stored; second bridge: {final}")
