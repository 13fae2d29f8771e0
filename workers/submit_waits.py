"""How long a submit attempt waits before it comes back (pure arithmetic on settings)."""

from __future__ import annotations

import random

import redis

from vbq.errors import VertexAmbiguousError
from vbq.settings import Settings
from vbq.states import SubmissionState
from vbq.workers.retry import backoff_s

__all__ = ["ASKS_PER_TOKEN", "settle_s", "token_wait_s"]

ASKS_PER_TOKEN = 4  # waiting submissions ask for a create token at about 4x the limit


def settle_s(
    settings: Settings,
    exc: VertexAmbiguousError,
    create_timeout_s: float | None,
    *,
    rng: random.Random,
) -> float:
    """Seconds to wait before reconciling an ambiguous create.

    After a timeout Google may still be working on the request, so a list sent at once
    could miss a job that appears a moment later and a second create would follow: wait
    at least the create timeout. A connection closed without an answer means the server
    is done with the request, so the usual short backoff is enough.
    """
    base = backoff_s(settings, 0, exc, rng=rng)
    if exc.status == "DEADLINE_EXCEEDED":
        return max(base, create_timeout_s or settings.http_timeout_s)
    return base


def token_wait_s(
    settings: Settings, redis_client: redis.Redis, retry_after_s: float, *, rng: random.Random
) -> float:
    """Wait for a rate-limit token: the limiter's hint plus a spread sized to the backlog.

    Only submissions that reached a worker without a scheduler grant wait this way (a retry
    after an error, a sweeper re-publish): the queued ones wait in the scheduler's queues.
    Every waiting submission that came back exactly at ``retry_after_s`` would stampede;
    spreading the waiters uniformly over ``backlog / (2 * rate)`` seconds makes them ask at
    about four times the allowed rate in total; a refused ask costs one Redis call.
    """
    rate_per_s = settings.create_rate_per_min / 60.0
    try:
        backlog = int(redis_client.zcard(f"vbq:idx:state:{SubmissionState.ACCEPTED.value}"))
    except redis.RedisError:
        backlog = 1
    spread_s = max(0.05, backlog / (ASKS_PER_TOKEN / 2 * max(rate_per_s, 1e-6)))
    return max(0.0, retry_after_s) + rng.uniform(0.0, spread_s)
