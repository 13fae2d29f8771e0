"""Handlers that ``vbq subscribe`` processes import in the integration tests.

Side effects go to the test's Redis (``VBQ_REDIS_URL``) so the test can count them:

- ``test:started:{event_id}`` INCR when a handler starts, ``test:runs:{event_id}`` INCR when
  it finishes (the exactly-once count), ``test:order:{submission_id}`` RPUSH of the state,
- ``test:pids`` RPUSH ``{pid}:{event_id}`` at start (which process took which event).

``TEST_HANDLER_SLEEP_S`` makes each handler sleep that long before finishing.
"""

from __future__ import annotations

import os
import threading
import time

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
    r = _redis()
    r.incr(f"test:started:{event.event_id}")
    r.rpush("test:pids", f"{os.getpid()}:{event.event_id}")
    delay_s = float(os.environ.get("TEST_HANDLER_SLEEP_S", "0") or 0)
    if delay_s:
        time.sleep(delay_s)
    pipe = r.pipeline(transaction=True)
    pipe.incr(f"test:runs:{event.event_id}")
    pipe.rpush(f"test:order:{event.submission_id}", event.state)
    pipe.execute()
