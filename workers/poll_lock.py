"""One poll cycle at a time, across every beat and worker process: a lease lock with fencing.

The lock value is a fencing token from ``INCR vbq:poll:fence``: each holder gets a larger token
than every holder before it, and renew/release only act while the value is still the caller's
token, so a holder whose lease ran out (a long GC pause, a frozen VM) can neither extend nor
drop its successor's lock. State changes themselves are compare-and-set in the job store, so
even a poller that lost its lease mid-cycle cannot publish an event twice; the lock saves work.
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib

__all__ = ["LOCK_KEY", "PollLock"]

LOCK_KEY = "vbq:poll:lock"
FENCE_KEY = "vbq:poll:fence"

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class PollLock:
    """A lease lock with a fencing token.

    Args:
        redis: a ``redis.Redis`` client.
        key: the lock key (one per kind of cycle).
    """

    def __init__(self, redis: redis_lib.Redis, *, key: str = LOCK_KEY) -> None:
        self.redis = redis
        self.key = key
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._renew: Any = redis.register_script(_RENEW)
        self._release: Any = redis.register_script(_RELEASE)

    def acquire(self, lease_s: float) -> int | None:
        """Take the lock for ``lease_s`` seconds; the fencing token, or None when held."""
        token = int(self._acquire(keys=[self.key, FENCE_KEY], args=[_ms(lease_s)]))
        return token or None

    def renew(self, token: int, lease_s: float) -> bool:
        """Extend the lease; False when the lock is no longer ours."""
        return bool(int(self._renew(keys=[self.key], args=[str(token), _ms(lease_s)])))

    def release(self, token: int) -> bool:
        """Drop the lock if it is still ours."""
        return bool(int(self._release(keys=[self.key], args=[str(token)])))


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
