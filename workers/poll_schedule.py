"""When the next poll cycle is due: back off while nothing changes, poll sooner after a submit.

Beat sends ``vbq.poll`` every tick (a fraction of the poll interval). The task runs a cycle
only when it is due:

- ``vbq:poll:next_at`` (Redis server time) has passed, or
- a job entered the in-flight list after the last cycle started (a fresh submission is polled
  on the next tick, not after a long back-off): one read of ``vbq:poll:locations``
  (:mod:`vbq.store.inflight`), whatever the number of jobs or locations.

After a cycle in which something changed the interval drops back to ``poll_interval_s``;
after a quiet one it doubles, up to ``poll_max_interval_s``.
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from vbq.settings import Settings
from vbq.store.inflight import InflightIndex

__all__ = ["PollSchedule"]

NEXT_AT_KEY = "vbq:poll:next_at"
INTERVAL_KEY = "vbq:poll:interval_s"
LAST_STARTED_KEY = "vbq:poll:last_started"


class PollSchedule:
    """Due-ness of poll cycles, kept in Redis so every process agrees.

    Args:
        redis: a ``redis.Redis`` client.
        settings: ``poll_interval_s`` and ``poll_max_interval_s``.
    """

    def __init__(self, redis: redis_lib.Redis, *, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.inflight = InflightIndex(redis)

    def now(self) -> float:
        """Redis server time, epoch seconds."""
        seconds, micros = self.redis.time()
        return float(seconds) + float(micros) / 1e6

    def is_due(self) -> bool:
        """True when a cycle should run now."""
        now = self.now()
        next_at = _float(self.redis.get(NEXT_AT_KEY), 0.0)
        if now >= next_at:
            return True
        last_started = _float(self.redis.get(LAST_STARTED_KEY), 0.0)
        return self._newest_submission() > last_started

    def started(self) -> None:
        """Record that a cycle starts now."""
        self.redis.set(LAST_STARTED_KEY, repr(self.now()))

    def finished(self, *, changed: bool) -> float:
        """Schedule the next cycle; returns the interval chosen, in seconds."""
        current = _float(self.redis.get(INTERVAL_KEY), self.settings.poll_interval_s)
        if changed:
            interval = self.settings.poll_interval_s
        else:
            interval = min(
                max(current, self.settings.poll_interval_s) * 2, self.settings.poll_max_interval_s
            )
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(INTERVAL_KEY, repr(interval))
        pipe.set(NEXT_AT_KEY, repr(self.now() + interval))
        pipe.execute()
        return interval

    def _newest_submission(self) -> float:
        # One ZRANGE of vbq:poll:locations (score = newest submitted_at per location).
        return self.inflight.newest_submitted_at()


def _float(value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
