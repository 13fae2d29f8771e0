"""The relay's lease lock with a fencing token: one relay publishes at a time.

``vbq:relay:lock`` holds ``{token}:{owner}`` with a TTL; ``token`` comes from
``INCR vbq:relay:fence`` on every acquisition, so each lease has a larger token than the last.
The holder renews the lease every round; a relay that stops renewing (crashed, paused) loses it
after ``ttl_s`` and a standby takes over.

Fencing: deletes from the outbox go through :meth:`RelayLock.fenced_xdel`, a Lua script that
first checks the lock still holds this lease's value. A relay whose lease expired while it
waited for Pub/Sub may still publish (a harmless duplicate: event ids are deterministic) but can
never delete an entry the new holder has not confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis as redis_lib

__all__ = ["FENCE_KEY", "LOCK_KEY", "RelayLock"]

LOCK_KEY = "vbq:relay:lock"
FENCE_KEY = "vbq:relay:fence"

# KEYS: lock, fence. ARGV: value we hold ("" if none), owner, ttl_ms.
# Returns the value we now hold, or nil when another relay holds the lock.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur and cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return cur
end
if cur then return false end
local token = redis.call('INCR', KEYS[2])
local value = token .. ':' .. ARGV[2]
redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
return value
"""

# KEYS: lock, stream. ARGV: value we hold, ids... Returns deleted count or -1 (lease lost).
_FENCED_XDEL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('XDEL', KEYS[2], unpack(ARGV, 2))
"""

# KEYS: lock. ARGV: value we hold.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_XDEL_CHUNK = 1000  # Lua's unpack() has a stack limit of a few thousand values


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class RelayLock:
    """Lease lock + fencing token in Redis.

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
        owner: written into the lock value (host, pid) for operators.
        ttl_s: lease in seconds (at least 1).
    """

    def __init__(self, *, redis: redis_lib.Redis, owner: str, ttl_s: float) -> None:
        self.owner = owner
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self.value = ""
        self._acquire = redis.register_script(_ACQUIRE)
        self._fenced_xdel = redis.register_script(_FENCED_XDEL)
        self._release = redis.register_script(_RELEASE)

    @property
    def held(self) -> bool:
        """True when the last acquire/renew succeeded and no fenced delete saw it lost."""
        return bool(self.value)

    @property
    def fence(self) -> int:
        """The fencing token of the lease held (0 when none)."""
        return int(self.value.split(":", 1)[0]) if self.value else 0

    def acquire_or_renew(self) -> tuple[bool, bool]:
        """Renew our lease, or acquire it when free.

        Returns:
            ``(held, changed)``: whether we hold it now, and whether that differs from before
            (a new lease, or a lost one) — callers drop state tied to an older lease.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        result = self._acquire(
            keys=[LOCK_KEY, FENCE_KEY], args=[self.value, self.owner, self.ttl_ms]
        )
        held = _text(result) if result else ""
        changed = held != self.value
        self.value = held
        return bool(held), changed

    def fenced_xdel(self, stream: str, ids: Sequence[str]) -> int | None:
        """``XDEL`` ``ids`` from ``stream`` only while our lease holds.

        Returns:
            How many entries were deleted, or None when the lease was lost (nothing more is
            deleted and :attr:`held` turns False).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        deleted = 0
        for start in range(0, len(ids), _XDEL_CHUNK):
            chunk = ids[start : start + _XDEL_CHUNK]
            n = int(self._fenced_xdel(keys=[LOCK_KEY, stream], args=[self.value, *chunk]))
            if n < 0:
                self.value = ""
                return None
            deleted += n
        return deleted

    def release(self) -> None:
        """Delete the lock if we still hold it, so a standby takes over at once.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        if self.value:
            self._release(keys=[LOCK_KEY], args=[self.value])
        self.value = ""
