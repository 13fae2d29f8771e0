"""Regression found by the chaos suite (redis_restart alone): Redis restarting between a
handler's end and the inbox's ``done`` mark made the runtime nack a handled event, so another
process ran the handler a second time. The runtime now retries the done mark while it still
holds the claim; the handler runs once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis

from tests.support.services import RedisServer
from tests.unit.subscribers.fakes import FakeDeadLetter, FakeMessage
from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.subscribers import HandlerRegistry, Subscriber
from vbq.subscribers.inbox import inbox_key

pytestmark = pytest.mark.integration


def test_a_redis_restart_right_after_the_handler_does_not_cause_a_second_run(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    runs: list[str] = []
    restarted = threading.Event()

    def handler(event: JobEvent) -> None:
        runs.append(event.event_id)
        if not restarted.is_set():
            # Redis dies as the handler returns, and is back 1 s later (AOF keeps the claim).
            server.kill()
            threading.Thread(target=lambda: (server.start(), restarted.set())).start()

    try:
        registry = HandlerRegistry()
        registry.add(handler)
        sub = Subscriber(
            settings=Settings(project="p", redis_url=server.url, inbox_ttl_s=60),
            redis=redis.Redis.from_url(server.url, socket_connect_timeout=0.5),
            registry=registry,
            dead_letter=FakeDeadLetter(),
            claim_lease_s=5.0,
        )
        event = JobEvent.create(
            type="job.succeeded", submission_id="d" * 32, state="SUCCEEDED", previous_state=None
        )
        first = FakeMessage(data=event.to_bytes(), attributes=event.attributes(), message_id="1")
        sub.handle_message(first)
        assert restarted.wait(15)
        # Whatever the first delivery ended with, a redelivery must not run the handler again.
        again = FakeMessage(data=event.to_bytes(), attributes=event.attributes(), message_id="1")
        sub.handle_message(again)
        assert runs == [event.event_id]
        assert first.outcome == "ack"
        assert again.outcome == "ack"
        r = redis.Redis.from_url(server.url)
        assert r.get(inbox_key(sub.group, event.event_id)) == b"done"
    finally:
        server.stop()
