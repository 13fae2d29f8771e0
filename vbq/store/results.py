"""Finished events that wait for their job's results (token sums, per-request answers).

When a Gemini job (or a pack of requests) finishes, the poller moves the record to its
finished state as usual but *owes* the event instead of appending it to the outbox: the event
is kept in ``vbq:results:owed`` (hash, id → event JSON) and the id is due in
``vbq:results:due`` (zset, score = when to look next). The results task reads the job's
outputs, then :meth:`ResultsBook.finish` stores the results in the record, adds them to the
per-tenant and per-model totals and appends the event (with ``results``) to the outbox, in one
Lua call that deletes the owed entry: a job is counted and announced exactly once, whatever
crashes in between.

``owe`` writes the owed event *before* the transition: if the transition never happens (a crash,
a lost compare-and-set), the results task sees a record whose state differs from the event's
and waits; the next poll writes the same event (same id) again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis as redis_lib

from vbq.events import JobEvent
from vbq.store.keys import OUTBOX_KEY, PREFIX, sub_key
from vbq.store.scripts import load_script

__all__ = ["DUE_KEY", "OWED_KEY", "ResultsBook"]

OWED_KEY = f"{PREFIX}results:owed"
DUE_KEY = f"{PREFIX}results:due"


class ResultsBook:
    """Owed events and the due list of the results task.

    Args:
        redis: the vbq Redis.
    """

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis
        self._finish = redis.register_script(load_script("results.lua"))

    def owe(self, event: JobEvent) -> None:
        """Keep ``event`` until its job's results are read; due now."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(OWED_KEY, event.submission_id, event.to_json())
        pipe.zadd(DUE_KEY, {event.submission_id: 0})
        pipe.execute()

    def watch(self, submission_id: str, *, at_s: float = 0.0) -> None:
        """Make ``submission_id`` due at ``at_s`` (epoch s; 0 = now) without owing an event."""
        self.redis.zadd(DUE_KEY, {submission_id: at_s})

    def due(self, now_s: float, *, limit: int = 50) -> list[str]:
        """Ids due by ``now_s``, most overdue first."""
        return [_text(m) for m in self.redis.zrangebyscore(DUE_KEY, "-inf", now_s, 0, limit)]

    def owed(self, submission_id: str) -> str | None:
        """The owed event JSON of ``submission_id``, if any."""
        value = self.redis.hget(OWED_KEY, submission_id)
        return None if value is None else _text(value)

    def later(self, submission_id: str, at_s: float) -> None:
        """Look at ``submission_id`` again at ``at_s`` (epoch s)."""
        self.redis.zadd(DUE_KEY, {submission_id: at_s})

    def forget(self, submission_id: str) -> None:
        """Nothing more to do for ``submission_id`` (no owed event is dropped)."""
        self.redis.zrem(DUE_KEY, submission_id)

    def drop_owed(self, submission_id: str, owed_json: str) -> None:
        """Drop an owed event that can no longer apply (the record finished otherwise)."""
        script = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then "
        script += "return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0"
        self.redis.eval(script, 1, OWED_KEY, submission_id, owed_json)

    def finish(
        self,
        submission_id: str,
        *,
        owed_json: str,
        results: Mapping[str, Any],
        event: JobEvent,
        increments: Sequence[str] = (),
    ) -> bool:
        """Store ``results``, add ``increments`` to the totals and publish ``event``: once.

        Returns:
            True when published now, False when the owed event was already handled.
        """
        args: list[Any] = [submission_id, PREFIX, owed_json]
        args += [json.dumps(dict(results), separators=(",", ":")), event.to_json(), *increments]
        keys = [sub_key(submission_id), OWED_KEY, OUTBOX_KEY]
        return bool(int(self._finish(keys=keys, args=args)))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
