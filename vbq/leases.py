"""Leases on Redis keys, optionally fenced: one Lua script set for every lock in vbq.

A lease is a key holding a value that names its holder, with a TTL (``PX``): a holder that
crashes or pauses loses it after the TTL and another process takes over. Renewing and releasing
compare the value first, so a holder whose lease ran out can neither extend nor delete its
successor's lease.

A *fenced* lease (:meth:`Leases.take_fenced`) mints its value from ``INCR`` on a fence counter:
``{token}`` or ``{token}:{owner}``. Every new lease has a larger token than every lease before
it, and a write guarded by the lease (:meth:`Leases.fenced_xdel`) runs in the same Lua call as
the check that the lease still holds, so a holder that lost its lease never writes.

Users in vbq: the outbox relay (``vbq:relay:lock``, through :class:`HeldLease`), the poll cycle
(``vbq:poll:lock``), a submit attempt (``vbq:lock:submit:{id}``) and the subscriber inbox's
claims (``vbq:inbox:{group}:{event_id}``). The key layouts are in docs/contracts.md § Redis keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import redis as redis_lib

__all__ = ["Claim", "HeldLease", "Leases", "fence_of"]

# KEYS: lease[, fence counter]. ARGV: value to renew ('' for none), ttl_ms, new value (unfenced)
# or owner (fenced; '' for a bare token). Returns {1, value held} or {0, the holder's value}.
_TAKE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, cur}
  end
  return {0, cur}
end
local value = ARGV[3]
if KEYS[2] then
  local token = redis.call('INCR', KEYS[2])
  if ARGV[3] == '' then value = tostring(token) else value = token .. ':' .. ARGV[3] end
end
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value}
"""

# KEYS: lease. ARGV: value held, ttl_ms. Returns 1 when the lease was still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: lease. ARGV: value held. Deletes our lease only.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lease, stream. ARGV: value held, ids... Returns the deleted count, or -1 (lease lost).
_FENCED_XDEL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('XDEL', KEYS[2], unpack(ARGV, 2))
"""

_XDEL_CHUNK = 1000  # Lua's unpack() has a stack limit of a few thousand values


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _ms(ttl_s: float) -> int:
    return max(1, round(ttl_s * 1000))


def fence_of(value: str) -> int:
    """The fencing token of a fenced lease's value (``{token}`` or ``{token}:{owner}``).

    Raises:
        ValueError: ``value`` does not start with a token.
    """
    return int(value.split(":", 1)[0])


class Claim(NamedTuple):
    """The answer of :meth:`Leases.take` / :meth:`Leases.take_fenced`.

    Attributes:
        held: True when the caller holds the lease now (taken or renewed).
        value: the lease's value when held; otherwise the current holder's value.
    """

    held: bool
    value: str


class Leases:
    """The lease scripts, registered once on one Redis client.

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
    """

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis
        self._take: Any = redis.register_script(_TAKE)
        self._renew: Any = redis.register_script(_RENEW)
        self._release: Any = redis.register_script(_RELEASE)
        self._fenced_xdel: Any = redis.register_script(_FENCED_XDEL)

    def take(self, key: str, value: str, ttl_s: float) -> Claim:
        """Take ``key`` with the caller's ``value`` for ``ttl_s`` seconds, or renew it.

        Renews when ``key`` already holds ``value`` (the same attempt asking again).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        return self._claim(self._take(keys=[key], args=[value, _ms(ttl_s), value]))

    def take_fenced(
        self, key: str, fence_key: str, ttl_s: float, *, owner: str = "", held: str = ""
    ) -> Claim:
        """Take ``key`` with a new fencing token from ``fence_key``, or renew the lease ``held``.

        Args:
            key: the lease key.
            fence_key: the counter that mints tokens (``INCR``).
            ttl_s: lease in seconds.
            owner: appended to the token (``{token}:{owner}``) for operators; "" stores the
                bare token.
            held: the value of the lease the caller holds ("" for none): renewed when ``key``
                still holds it.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        return self._claim(self._take(keys=[key, fence_key], args=[held, _ms(ttl_s), owner]))

    def renew(self, key: str, value: str, ttl_s: float) -> bool:
        """Extend the lease on ``key`` to ``ttl_s`` seconds; False when it is no longer ours.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        return bool(int(self._renew(keys=[key], args=[value, _ms(ttl_s)])))

    def renew_many(self, leases: Iterable[tuple[str, str]], ttl_s: float) -> int:
        """Renew each ``(key, value)`` in one round trip; returns how many were still ours.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        pipe = self.redis.pipeline(transaction=False)
        n = 0
        for key, value in leases:
            self._renew(keys=[key], args=[value, _ms(ttl_s)], client=pipe)
            n += 1
        if not n:
            return 0
        return sum(int(x) for x in pipe.execute())

    def release(self, key: str, value: str) -> bool:
        """Delete ``key`` if it still holds ``value``; True when it did.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        return bool(int(self._release(keys=[key], args=[value])))

    def fenced_xdel(self, key: str, value: str, stream: str, ids: Sequence[str]) -> int | None:
        """``XDEL`` ``ids`` from ``stream`` only while ``key`` holds ``value``.

        Returns:
            How many entries were deleted, or None when the lease was lost (nothing more is
            deleted; chunks before the loss stay deleted).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        deleted = 0
        for start in range(0, len(ids), _XDEL_CHUNK):
            chunk = ids[start : start + _XDEL_CHUNK]
            n = int(self._fenced_xdel(keys=[key, stream], args=[value, *chunk]))
            if n < 0:
                return None
            deleted += n
        return deleted

    @staticmethod
    def _claim(result: Any) -> Claim:
        held, value = result
        return Claim(bool(int(held)), _text(value))


class HeldLease:
    """One fenced lease that one holder keeps across rounds (the outbox relay's lock).

    Not thread-safe: the holder serializes its calls.

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
        key: the lease key.
        fence_key: the token counter.
        owner: written into the value (host, pid) for operators.
        ttl_s: lease in seconds (at least 1).
    """

    def __init__(
        self, *, redis: redis_lib.Redis, key: str, fence_key: str, owner: str, ttl_s: float
    ) -> None:
        self.key = key
        self.fence_key = fence_key
        self.owner = owner
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self.value = ""
        self._leases = Leases(redis)

    @property
    def held(self) -> bool:
        """True when the last acquire/renew succeeded and no fenced write saw it lost."""
        return bool(self.value)

    @property
    def fence(self) -> int:
        """The fencing token of the lease held (0 when none)."""
        return fence_of(self.value) if self.value else 0

    def acquire_or_renew(self) -> tuple[bool, bool]:
        """Renew our lease, or acquire it when free.

        Returns:
            ``(held, changed)``: whether we hold it now, and whether that differs from before
            (a new lease, or a lost one); callers drop state tied to an older lease.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        claim = self._leases.take_fenced(
            self.key, self.fence_key, self.ttl_ms / 1000, owner=self.owner, held=self.value
        )
        now = claim.value if claim.held else ""
        changed = now != self.value
        self.value = now
        return claim.held, changed

    def fenced_xdel(self, stream: str, ids: Sequence[str]) -> int | None:
        """``XDEL`` ``ids`` from ``stream`` only while our lease holds.

        Returns:
            How many entries were deleted, or None when the lease was lost (:attr:`held`
            turns False).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        deleted = self._leases.fenced_xdel(self.key, self.value, stream, ids)
        if deleted is None:
            self.value = ""
        return deleted

    def release(self) -> None:
        """Delete the lease if we still hold it, so a standby takes over at once.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        if self.value:
            self._leases.release(self.key, self.value)
        self.value = ""

    def forget(self) -> None:
        """Stop believing we hold the lease (after Redis failed during a release)."""
        self.value = ""
