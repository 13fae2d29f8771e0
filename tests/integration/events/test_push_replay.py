"""Push-mode subscribers, replay and the event schema, with real processes.

Outbox → ``vbq relay`` → Pub/Sub emulator (events topic with vbq's schema) → push subscription →
``vbq subscribe --push`` running tests/integration/events/handlers.py:record.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from google.api_core import exceptions

from tests.integration.events.helpers import (
    HANDLER,
    RELAY,
    STATES,
    SUBSCRIBE,
    append,
    order,
    runs,
    sid,
    start_role,
    start_roles,
    wait_until,
)
from tests.support.pubsub import PubSubEmulator
from tests.support.services import ManagedProcess, free_port
from vbq.cli import cli
from vbq.events import JobEvent
from vbq.pubsub.admin import publisher_client, subscriber_client
from vbq.pubsub.event_schema import event_schema_path
from vbq.settings import Settings
from vbq.workers.relay import OUTBOX_KEY

pytestmark = pytest.mark.integration


def vbq(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """Run a ``vbq`` command in this process (Click's runner) with ``env``."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def push_args(port: int, *extra: str) -> list[str]:
    return [
        "subscribe",
        "--handler",
        HANDLER,
        "--push",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--create",
        "--endpoint",
        f"http://127.0.0.1:{port}/",
        *extra,
    ]


def test_push_subscriber_handles_each_event_once_through_a_sigkill(
    redis_url: str,
    settings: Settings,
    emulator: PubSubEmulator,
    child_env: dict[str, str],
    tmp_path: Path,
) -> None:
    r = redis.Redis.from_url(redis_url)
    logs = tmp_path / "logs"
    port = free_port()
    env = {**child_env, "TEST_HANDLER_SLEEP_S": "0.8"}
    args = push_args(port, "--claim-lease-s", "2", "--threads", "8")
    push, relay = start_roles(
        [("push-1", args, "subscriber.started"), RELAY], log_dir=logs, env=env
    )
    restarted: ManagedProcess | None = None
    try:
        sub = subscriber_client(settings)
        config = sub.get_subscription(subscription=settings.events_subscription_path())
        sub.close()
        assert config.push_config.push_endpoint == f"http://127.0.0.1:{port}/"
        jobs = [sid(i) for i in range(8)]
        events = [append(r, j, t, s) for t, s in STATES for j in jobs]
        ids = [e.event_id for e in events]

        def started_in_push_1() -> bool:
            return any(v.decode().startswith(f"{push.pid}:") for v in r.lrange("test:pids", 0, -1))

        wait_until(started_in_push_1, timeout_s=20, what="a handler running in push-1")
        push.kill()
        mid = [
            v.decode().split(":", 1)[1]
            for v in r.lrange("test:pids", 0, -1)
            if v.decode().startswith(f"{push.pid}:")
        ]
        restarted = start_role("push-2", args, log_dir=logs, env=env, ready="subscriber.started")
        wait_until(lambda: min(runs(r, ids)) >= 1, timeout_s=60, what="every event handled")
        wait_until(lambda: r.xlen(OUTBOX_KEY) == 0, timeout_s=10, what="outbox drained")
        time.sleep(1.0)  # late redeliveries would show up as second runs
        assert runs(r, ids) == [1] * len(ids)
        assert any(r.get(f"test:started:{e}") == b"2" for e in mid), "no handler was cut short"
        for j in jobs:
            assert order(r, j) == [s for _, s in STATES]
        stats = emulator.stats()["subscriptions"][settings.events_subscription_path()]
        assert stats["push"]["acked"] >= len(ids)
    finally:
        relay.stop()
        push.kill()
        if restarted is not None:
            restarted.stop()


def test_replay_redelivers_and_reruns_only_with_rerun(
    redis_url: str,
    settings: Settings,
    emulator: PubSubEmulator,
    child_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = redis.Redis.from_url(redis_url)
    logs = tmp_path / "logs"
    sub, relay = start_roles([SUBSCRIBE, RELAY], log_dir=logs, env=child_env)
    try:
        before = datetime.now(UTC)
        time.sleep(0.05)
        jobs = [sid(i) for i in range(5)]
        events = [append(r, j, t, s) for t, s in STATES[:2] for j in jobs]
        ids = [e.event_id for e in events]
        wait_until(lambda: min(runs(r, ids)) >= 1, timeout_s=30, what="every event handled")
        path = settings.events_subscription_path()

        def delivered() -> int:
            return int(emulator.stats()["subscriptions"][path]["delivered"])

        first = delivered()

        def replay(*extra: str) -> str:
            since = ("--since", before.isoformat())
            return vbq(child_env, monkeypatch, "events", "replay", *since, *extra)

        assert "not run again" in replay()
        wait_until(lambda: delivered() >= first + len(ids), timeout_s=30, what="redelivered")
        time.sleep(1.0)
        assert runs(r, ids) == [1] * len(ids)  # redelivered, acked without running

        assert "rerun" in replay("--rerun")
        wait_until(lambda: min(runs(r, ids)) >= 2, timeout_s=30, what="every event rerun")
        time.sleep(1.0)
        assert runs(r, ids) == [2] * len(ids)  # once more, not more
        for j in jobs:
            assert order(r, j) == [s for _, s in STATES[:2]] * 2
    finally:
        relay.stop()
        sub.stop()


def test_snapshot_replay_through_the_cli(
    redis_url: str,
    settings: Settings,
    child_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = redis.Redis.from_url(redis_url)

    def events(*args: str) -> str:
        return vbq(child_env, monkeypatch, "events", *args)

    assert "snapshots/before-run" in events("snapshot", "before-run")
    assert "before-run" in events("snapshots")
    sub, relay = start_roles([SUBSCRIBE, RELAY], log_dir=tmp_path / "logs", env=child_env)
    try:
        appended = [append(r, sid(i), *STATES[0]) for i in range(3)]
        ids = [e.event_id for e in appended]
        wait_until(lambda: min(runs(r, ids)) >= 1, timeout_s=30, what="handled")
        events("replay", "--snapshot", "before-run", "--rerun")
        wait_until(lambda: min(runs(r, ids)) >= 2, timeout_s=30, what="rerun from the snapshot")
    finally:
        relay.stop()
        sub.stop()
    events("delete-snapshot", "before-run")
    assert "before-run" not in events("snapshots")


def test_events_topic_validates_vbqs_schema(settings: Settings) -> None:
    publisher = publisher_client(settings, enable_message_ordering=False)
    puller = subscriber_client(settings)
    try:
        topic = publisher.get_topic(topic=settings.events_topic_path())
        assert topic.schema_settings.schema == event_schema_path(settings)
        event = JobEvent.create(
            type="job.succeeded",
            submission_id=sid(1),
            state="SUCCEEDED",
            previous_state="RUNNING",
            job={"name": "projects/p/locations/l/batchPredictionJobs/1", "x": [1, None]},
            metadata={"any": {"json": True}},
        )
        data = event.to_schema_json().encode()
        publisher.publish(topic.name, data, **event.attributes()).result(timeout=10)
        with pytest.raises(exceptions.InvalidArgument, match="failed schema validation"):
            publisher.publish(topic.name, json.dumps({"schema": 1}).encode()).result(timeout=10)
        with pytest.raises(exceptions.InvalidArgument):
            publisher.publish(topic.name, event.to_bytes()).result(timeout=10)
        response = puller.pull(
            subscription=settings.events_subscription_path(), max_messages=10, timeout=10
        )
        (received,) = response.received_messages
        assert JobEvent.from_json(received.message.data) == event
        assert received.message.attributes["googclient_schemaname"] == event_schema_path(settings)
        assert received.message.attributes["googclient_schemaencoding"] == "JSON"
    finally:
        publisher.stop()
        puller.close()
