"""Outbox → relay → Pub/Sub emulator → ``vbq subscribe`` handlers, with real processes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis

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
from vbq.events import JobEvent
from vbq.pubsub.admin import dead_letter_subscription_path, publisher_client, subscriber_client
from vbq.settings import Settings
from vbq.workers.relay import OUTBOX_KEY

pytestmark = pytest.mark.integration


def test_outbox_events_reach_handlers_once_in_order_per_job(
    redis_url: str, settings: Settings, child_env: dict[str, str], tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    logs = tmp_path / "logs"
    sub, relay = start_roles([SUBSCRIBE, RELAY], log_dir=logs, env=child_env)
    try:
        jobs = [sid(i) for i in range(25)]
        events = [append(r, j, t, s) for t, s in STATES for j in jobs]
        ids = [e.event_id for e in events]
        wait_until(lambda: all(n >= 1 for n in runs(r, ids)), timeout_s=30, what="all handled")
        wait_until(lambda: r.xlen(OUTBOX_KEY) == 0, timeout_s=10, what="outbox drained")
        assert runs(r, ids) == [1] * len(ids)
        for j in jobs:
            assert order(r, j) == [s for _, s in STATES]
    finally:
        relay.stop()
        sub.stop()
    assert relay.proc is not None and relay.proc.returncode == 0, relay.log_text()[-2000:]
    assert sub.proc is not None and sub.proc.returncode == 0, sub.log_text()[-2000:]


def _outage(
    r: redis.Redis, emulator: PubSubEmulator, child_env: dict[str, str], logs: Path, down_s: float
) -> None:
    sub, relay = start_roles([SUBSCRIBE, RELAY], log_dir=logs, env=child_env)
    jobs = [sid(i) for i in range(30)]
    events: list[JobEvent] = []
    try:
        events += [append(r, j, *STATES[0]) for j in jobs]
        first = [e.event_id for e in events]
        wait_until(lambda: min(runs(r, first)) >= 1, timeout_s=20, what="first wave handled")
        emulator.kill()
        # Writers keep going during the outage: the other states arrive spread over it.
        for t, s in STATES[1:3]:
            time.sleep(down_s / 3)
            events += [append(r, j, t, s) for j in jobs]
        time.sleep(down_s / 3)
        assert r.xlen(OUTBOX_KEY) == 2 * len(jobs)  # nothing left the outbox while down
        emulator.start()
        t_up = time.monotonic()
        events += [append(r, j, *STATES[3]) for j in jobs]
        ids = [e.event_id for e in events]
        wait_until(lambda: r.xlen(OUTBOX_KEY) == 0, timeout_s=60, what="outbox drained")
        print(f"outbox drained {time.monotonic() - t_up:.1f}s after restart")
        wait_until(
            lambda: all(n >= 1 for n in runs(r, ids)), timeout_s=60, what="all handled after outage"
        )
        wait_until(lambda: r.xlen(OUTBOX_KEY) == 0, timeout_s=10, what="outbox drained")
        print(f"all handled {time.monotonic() - t_up:.1f}s after restart")
        time.sleep(1.0)  # give late redeliveries a chance to show up as double runs
        assert runs(r, ids) == [1] * len(ids)
        for j in jobs:
            assert order(r, j) == [s for _, s in STATES]
        assert relay.alive() and sub.alive()
    finally:
        relay.stop()
        sub.stop()


def test_pubsub_outage_loses_nothing_and_runs_each_handler_once(
    redis_url: str,
    settings: Settings,
    emulator: PubSubEmulator,
    child_env: dict[str, str],
    tmp_path: Path,
) -> None:
    _outage(redis.Redis.from_url(redis_url), emulator, child_env, tmp_path / "logs", down_s=10.0)


@pytest.mark.slow
def test_pubsub_outage_30s(
    redis_url: str,
    settings: Settings,
    emulator: PubSubEmulator,
    child_env: dict[str, str],
    tmp_path: Path,
) -> None:
    _outage(redis.Redis.from_url(redis_url), emulator, child_env, tmp_path / "logs", down_s=30.0)


def test_sigkill_mid_handler_loses_nothing_and_handles_once(
    redis_url: str, settings: Settings, child_env: dict[str, str], tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    logs = tmp_path / "logs"
    env = {**child_env, "TEST_HANDLER_SLEEP_S": "2"}
    args = ["subscribe", "--handler", HANDLER, "--threads", "4", "--claim-lease-s", "3"]
    a, b = start_roles(
        [("subscribe-a", args, "subscriber.started"), ("subscribe-b", args, "subscriber.started")],
        log_dir=logs,
        env=env,
    )
    try:
        from vbq.workers.relay import OutboxRelay

        events = [append(r, sid(i), *STATES[3]) for i in range(12)]
        ids = [e.event_id for e in events]
        relay = OutboxRelay.from_settings(settings)
        assert relay.drain_once() == len(ids)
        relay.close()

        # The relay sends the 12 events in one Publish request, and the emulator may hand them
        # all to one stream: kill whichever process started a handler first, mid-handler.
        def started_in() -> list[int]:
            return [int(v.decode().split(":", 1)[0]) for v in r.lrange("test:pids", 0, -1)]

        wait_until(lambda: bool(started_in()), timeout_s=15, what="a handler started")
        victim, survivor = (a, b) if started_in()[0] == a.pid else (b, a)
        victim.kill()
        killed_mid_handler = [
            v.decode().split(":", 1)[1]
            for v in r.lrange("test:pids", 0, -1)
            if v.decode().startswith(f"{victim.pid}:")
        ]
        assert any(runs(r, [e]) == [0] for e in killed_mid_handler)
        # The victim's events come back once their ack deadline passes: 10 s after the client's
        # receipt modack, but 60 s (the stream's deadline, as Google's client opens it) when it
        # died before that modack went out (seen on a loaded machine); then the survivor needs
        # ~6 s for them.
        wait_until(
            lambda: all(n >= 1 for n in runs(r, ids)), timeout_s=90, what="all handled by survivor"
        )
        time.sleep(0.5)
        assert runs(r, ids) == [1] * len(ids)
        assert survivor.alive()
    finally:
        for role in (a, b):
            if role.alive():
                role.stop()
            else:
                role.kill()  # reaps it


def test_malformed_messages_are_dead_lettered_and_the_process_survives(
    redis_url: str, settings: Settings, child_env: dict[str, str], tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    publisher = publisher_client(settings, enable_message_ordering=False)
    # The events topic validates vbq's schema and would refuse these before any subscriber
    # sees them (test_schema_topic.py shows that); without the schema they reach it.
    publisher.update_topic(
        request={
            "topic": {"name": settings.events_topic_path()},
            "update_mask": {"paths": ["schema_settings"]},
        }
    )
    sub = start_role(
        "subscribe",
        ["subscribe", "--handler", HANDLER],
        log_dir=tmp_path / "logs",
        env=child_env,
        ready="subscriber.started",
    )
    puller = subscriber_client(settings)
    try:
        topic = settings.events_topic_path()
        bad = [b"not json at all", b'{"schema": "vbq.job-event/1", "type": "job.nope"}']
        for i, data in enumerate(bad):
            publisher.publish(topic, data, origin="test", n=str(i)).result(timeout=10)
        good = JobEvent.create(
            type="job.succeeded", submission_id=sid(7), state="SUCCEEDED", previous_state=None
        )
        publisher.publish(topic, good.to_bytes(), **good.attributes()).result(timeout=10)
        wait_until(lambda: runs(r, [good.event_id]) == [1], timeout_s=20, what="good event")

        dead: dict[bytes, dict[str, str]] = {}
        dl_sub = dead_letter_subscription_path(settings)

        def pulled_all() -> bool:
            resp = puller.pull(subscription=dl_sub, max_messages=10, timeout=5)
            for m in resp.received_messages:
                dead[m.message.data] = dict(m.message.attributes)
            if resp.received_messages:
                puller.acknowledge(
                    subscription=dl_sub, ack_ids=[m.ack_id for m in resp.received_messages]
                )
            return len(dead) >= len(bad)

        wait_until(pulled_all, timeout_s=20, what="dead letters")
        assert set(dead) == set(bad)
        assert "not JSON" in dead[bad[0]]["vbq_error"]
        assert "invalid event" in dead[bad[1]]["vbq_error"]
        assert dead[bad[0]]["origin"] == "test"
        assert dead[bad[0]]["vbq_subscription"] == settings.events_subscription_path()
        assert sub.alive()
    finally:
        publisher.stop()
        puller.close()
        sub.stop()


def test_sigterm_lets_the_running_handler_finish(
    redis_url: str, settings: Settings, child_env: dict[str, str], tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    env = {**child_env, "TEST_HANDLER_SLEEP_S": "1.5"}
    sub = start_role(
        "subscribe",
        ["subscribe", "--handler", HANDLER],
        log_dir=tmp_path / "logs",
        env=env,
        ready="subscriber.started",
    )
    try:
        ev = append(r, sid(3), *STATES[3])
        from vbq.workers.relay import OutboxRelay

        relay = OutboxRelay.from_settings(settings)
        assert relay.drain_once() == 1
        relay.close()
        wait_until(
            lambda: r.get(f"test:started:{ev.event_id}") is not None,
            timeout_s=15,
            what="handler started",
        )
        t0 = time.monotonic()
        sub.signal(signal.SIGTERM)
        assert sub.proc is not None
        code = sub.proc.wait(timeout=settings.shutdown_grace_s + 5)
        assert code == 0, sub.log_text()[-2000:]
        assert time.monotonic() - t0 < settings.shutdown_grace_s
        assert runs(r, [ev.event_id]) == [1]
    finally:
        sub.stop()


@pytest.mark.slow  # ~10 s; the lock and fencing logic also run in test_relay_redis.py
def test_standby_relay_takes_over_when_the_active_one_is_killed(
    redis_url: str, settings: Settings, child_env: dict[str, str], tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    relay_args = ["relay", "--lock-ttl-s", "2"]
    sub, one, two = start_roles(
        [
            SUBSCRIBE,
            ("relay-1", relay_args, "relay.started"),
            ("relay-2", relay_args, "relay.started"),
        ],
        log_dir=tmp_path / "logs",
        env=child_env,
    )
    try:
        jobs = [sid(i) for i in range(20)]
        events = [append(r, j, *STATES[0]) for j in jobs]
        wait_until(lambda: r.xlen(OUTBOX_KEY) == 0, timeout_s=20, what="first wave relayed")
        holder = r.get("vbq:relay:lock")
        assert holder is not None
        active, standby = (one, two) if f":{one.pid}:" in holder.decode() else (two, one)
        assert f":{active.pid}:" in holder.decode()
        active.kill()
        t_kill = time.monotonic()
        events += [append(r, j, *STATES[1]) for j in jobs]
        wait_until(lambda: r.xlen(OUTBOX_KEY) == 0, timeout_s=20, what="standby relayed")
        assert time.monotonic() - t_kill < 15
        lock = r.get("vbq:relay:lock")
        assert lock is not None and f":{standby.pid}:" in lock.decode()
        assert int(lock.decode().split(":", 1)[0]) > int(holder.decode().split(":", 1)[0])
        ids = [e.event_id for e in events]
        wait_until(lambda: min(runs(r, ids)) >= 1, timeout_s=20, what="all handled")
        assert runs(r, ids) == [1] * len(ids)
        for j in jobs:
            assert order(r, j) == [STATES[0][1], STATES[1][1]]
    finally:
        one.kill()
        two.stop()
        sub.stop()
