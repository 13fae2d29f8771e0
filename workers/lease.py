"""A per-item lease lock in Redis (``SET NX PX`` + compare-and-delete), for the packer, the
results task and the splitter: two workers never do the same item's work at once, and a
killed holder blocks the item for at most one lease."""

from __future__ import annotations

import uuid

import redis as redis_lib

__all__ = ["Lease"]

_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class Lease:
    """One lease on ``key``.

    Args:
        redis: the vbq Redis.
        key: the lock key (``vbq:lock:pack:{id}``, ...).
        lease_s: how long the lease lasts without renewal, in seconds.
    """

    def __init__(self, redis: redis_lib.Redis, key: str, lease_s: float) -> None:
        self.redis = redis
        self.key = key
        self.lease_ms = max(1, int(lease_s * 1000))
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lease; False when another holder has it."""
        return bool(self.redis.set(self.key, self.token, nx=True, px=self.lease_ms))

    def renew(self) -> bool:
        """Extend the lease; False when it was lost (expired and taken, or released)."""
        return bool(int(self.redis.eval(_RENEW, 1, self.key, self.token, self.lease_ms)))

    def release(self) -> None:
        """Give the lease back (only if still ours)."""
        self.redis.eval(_RELEASE, 1, self.key, self.token)
