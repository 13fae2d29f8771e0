"""The handler ``vbq subscribe`` runs in the end-to-end test: side effects counted in Redis.

- ``e2e:runs:{event_id}``: INCR once per finished run (the exactly-once count),
- ``e2e:order:{submission_id}``: RPUSH of each event's state, in handling order,
- ``e2e:events``: SADD of every event id handled.
"""

from __future__ import annotations

import os
import threading

import redis

from vbq.events import JobEvent
from vbq.subscribers import handler

_client: redis.Redis | None = None
_lock = threading.Lock()


def _redis() -> redis.Redis:
    global _client
    with _lock:
        if _client is None:
            _client = redis.Redis.from_url(os.environ["VBQ_REDIS_URL"])
        return _client


@handler("*")
def record(event: JobEvent) -> None:
    pipe = _redis().pipeline(transaction=True)
    pipe.incr(f"e2e:runs:{event.event_id}")
    pipe.rpush(f"e2e:order:{event.submission_id}", event.state)
    pipe.sadd("e2e:events", event.event_id)
    pipe.execute()
