"""When each submission's next ``vbq.submit`` message is due: the zset ``vbq:submit:due``.

Whoever publishes a submit message marks it here (member = submission id, score = epoch
seconds when it should run); the submit task clears the mark when the submission needs no
more messages; the workers' sweeper (:mod:`vbq.workers.sweeper`) reads it to find messages
that were never published or were lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

__all__ = ["DUE_KEY", "DueIndex"]

DUE_KEY = "vbq:submit:due"
"""zset: submission id → epoch seconds when its next submit message is due."""


class DueIndex:
    """When each submission's next submit message is due (``vbq:submit:due``).

    Args:
        redis_client: the vbq Redis.
    """

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client

    def mark(self, submission_ids: Iterable[str], due_at: float) -> None:
        """Note that a submit message for each id is due at ``due_at`` (epoch seconds).

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        mapping = {sid: due_at for sid in submission_ids}
        if mapping:
            self.redis.zadd(DUE_KEY, mapping)  # type: ignore[arg-type]

    def clear(self, submission_id: str) -> None:
        """Forget ``submission_id``: it needs no more submit messages.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        self.redis.zrem(DUE_KEY, submission_id)

    def due_at(self, submission_ids: Sequence[str]) -> list[float | None]:
        """The due time of each id (None when none is noted), in order.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        if not submission_ids:
            return []
        scores = self.redis.zmscore(DUE_KEY, list(submission_ids))
        return [None if s is None else float(s) for s in scores]
