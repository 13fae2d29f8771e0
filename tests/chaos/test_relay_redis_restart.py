"""Regression found by the chaos suite (redis_restart alone): a Redis restart while the outbox
relay idles in ``XREAD BLOCK`` must not end the relay; events written after the restart are
published. (Before the fix the relay thread died with ConnectionError and, inside ``vbq beat``,
nothing was published again until beat itself restarted.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from tests.integration.events.fake_publisher import FakePublisher
from tests.support.services import RedisServer
from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.workers.relay import OUTBOX_KEY, OutboxRelay

pytestmark = pytest.mark.integration


def _append(r: redis.Redis, n: int) -> str:
    event = JobEvent.create(
        type="job.succeeded", submission_id=f"{n:032x}", state="SUCCEEDED", previous_state=None
    )
    r.xadd(OUTBOX_KEY, {"event": event.to_json()})
    return event.event_id


def _wait(pred: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_relay_outlives_a_redis_restart_while_idle(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    publisher = FakePublisher()
    stop = threading.Event()
    try:
        settings = Settings(project="relay-chaos", redis_url=server.url)
        relay = OutboxRelay(
            redis=redis.Redis.from_url(server.url),
            publisher=publisher,
            settings=settings,
            idle_wait_s=5.0,  # long blocking reads: the restart hits one mid-XREAD
            backoff_base_s=0.05,
            backoff_max_s=0.2,
        )
        thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
        thread.start()
        r = redis.Redis.from_url(server.url)
        _append(r, 1)
        _wait(lambda: len(publisher.sent) == 1, 10, "first event published")
        time.sleep(0.3)  # the relay is now idle in XREAD BLOCK
        server.restart(down_s=0.5)
        r = redis.Redis.from_url(server.url)
        _append(r, 2)
        _wait(lambda: len(publisher.sent) >= 2 or not thread.is_alive(), 15, "second event")
        assert thread.is_alive(), "the relay thread died on the Redis restart"
        _wait(lambda: r.xlen(OUTBOX_KEY) == 0, 10, "outbox drained")
    finally:
        stop.set()
        server.stop()
