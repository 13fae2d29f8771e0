"""Retention in the store: which finished submissions are due, and expiring them (``expire.lua``).

``update.lua`` adds every submission that reaches a finished state to the zset ``vbq:finished``
(score = ``finished_at``) in the same call as the transition, so finding what is due is one
``ZRANGEBYSCORE`` (never a ``SCAN``). :meth:`Expirer.expire` removes a batch in one Lua call:
the record, every index entry (listing, console, label, model, name), the idempotency key,
per-submission markers and leases, the timeline and the subscriber inbox marks its timeline
names; it writes an archive index entry for each and clears the archiver's pending batch, all
only while the caller's retention lease still holds (docs/contracts.md § Retention and archive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis as redis_lib

from vbq.errors import StoreError
from vbq.states import FINISHED_SUBMISSION_STATES
from vbq.store.keys import FINISHED_KEY, PREFIX, sub_key, timeline_key
from vbq.store.results import OWED_KEY
from vbq.store.scripts import load_script

__all__ = ["DueSubmission", "Expirer", "IndexEntry", "backfill_finished"]

# KEYS: lease, pending batch. ARGV: lease value held, payload. 1 when written.
_SAVE_PENDING = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


@dataclass(frozen=True, kw_only=True)
class DueSubmission:
    """A finished submission past the cutoff, as read before archiving.

    Attributes:
        id: the submission id.
        fields: its record hash (str -> str); empty when the record is gone.
        timeline: its raw timeline entries, oldest first.
        owed: its finished event still waits for results (not archived or expired yet).
    """

    id: str
    fields: dict[str, str]
    timeline: list[str]
    owed: bool


@dataclass(frozen=True, kw_only=True)
class IndexEntry:
    """The archive index entry written when a submission expires.

    Attributes:
        id: the submission id.
        key: the index hash key (field = id).
        value: where the archive has it (opaque to the store).
        expire_at_s: when the index hash key expires (epoch seconds).
    """

    id: str
    key: str
    value: str
    expire_at_s: int


class Expirer:
    """Reads due submissions and expires them.

    Args:
        redis: the store's Redis client (``decode_responses`` either way).
    """

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis
        self._expire = redis.register_script(load_script("expire.lua"))
        self._save_pending = redis.register_script(_SAVE_PENDING)

    def due(self, cutoff_s: float, *, limit: int) -> list[str]:
        """Ids finished at or before ``cutoff_s`` (epoch s), oldest first, at most ``limit``."""
        raw = self.redis.zrangebyscore(FINISHED_KEY, "-inf", cutoff_s, start=0, num=limit)
        return [_text(r) for r in raw]

    def load(self, ids: Sequence[str]) -> list[DueSubmission]:
        """Record hash, timeline and owed flag of each id (one pipelined round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in ids:
            pipe.hgetall(sub_key(sid))
            pipe.lrange(timeline_key(sid), 0, -1)
            pipe.hexists(OWED_KEY, sid)
        replies = pipe.execute()
        out = []
        for i, sid in enumerate(ids):
            raw, timeline, owed = replies[3 * i : 3 * i + 3]
            fields = {_text(k): _text(v) for k, v in raw.items()}
            out.append(
                DueSubmission(
                    id=sid, fields=fields, timeline=[_text(t) for t in timeline], owed=bool(owed)
                )
            )
        return out

    def save_pending(
        self, payload: str, *, lease_key: str, lease_value: str, pending_key: str
    ) -> bool:
        """Set ``pending_key`` to ``payload`` only while the lease holds; False when it does
        not (nothing written).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        return bool(self._save_pending(keys=[lease_key, pending_key], args=[lease_value, payload]))

    def expire(
        self,
        entries: Sequence[IndexEntry],
        *,
        lease_key: str,
        lease_value: str,
        pending_key: str,
        owed_retry_score: float,
    ) -> dict[str, str] | None:
        """Expire the submissions of ``entries`` in one Lua call and clear ``pending_key``.

        Args:
            entries: one index entry per submission to expire.
            lease_key / lease_value: the retention lease; nothing happens unless it holds.
            pending_key: the archiver's pending batch, deleted in the same call.
            owed_retry_score: new ``vbq:finished`` score of an id whose event is still owed.

        Returns:
            id -> ``expired`` | ``gone`` | ``owed`` | ``unfinished``; None when the lease was
            lost (nothing changed).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        args: list[Any] = [lease_value, PREFIX, repr(float(owed_retry_score))]
        for e in entries:
            args += [e.id, e.key, e.value, int(e.expire_at_s)]
        reply = self._expire(keys=[lease_key, FINISHED_KEY, pending_key], args=args)
        if isinstance(reply, int):
            if reply == -1:
                return None
            raise StoreError(f"unexpected expire reply {reply!r}")
        return {e.id: _text(s) for e, s in zip(entries, reply, strict=True)}


def backfill_finished(redis: redis_lib.Redis, *, batch: int = 1000) -> int:
    """Add finished records missing from ``vbq:finished`` (written before retention existed),
    walking the finished states' listing indexes; returns how many were added. Idempotent."""
    added = 0
    for state in sorted(s.value for s in FINISHED_SUBMISSION_STATES):
        index = f"{PREFIX}idx:state:{state}"
        start = 0
        while True:
            ids = [_text(i) for i in redis.zrange(index, start, start + batch - 1)]
            if not ids:
                break
            start += batch
            pipe = redis.pipeline(transaction=False)
            for sid in ids:
                pipe.hmget(sub_key(sid), ["finished_at", "updated_at"])
            # A record without finished_at (very old) counts from its last change.
            scores = {
                sid: float(_text(f or u))
                for sid, (f, u) in zip(ids, pipe.execute(), strict=True)
                if f or u
            }
            if scores:
                added += int(cast(int, redis.zadd(FINISHED_KEY, scores, nx=True)))
    return added


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
