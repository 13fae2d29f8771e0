"""A per-item lease (``vbq.leases``: ``SET NX PX`` + compare-and-renew/delete) for the packer,
the results task and the splitter: two workers never do the same item's work at once, and a
killed holder blocks the item for at most one lease."""

from __future__ import annotations

import uuid

import redis as redis_lib

from vbq.leases import Leases

__all__ = ["Lease"]


class Lease:
    """One lease on ``key``, held by a random value.

    Args:
        redis: the vbq Redis.
        key: the lock key (``vbq:lock:pack:{id}``, ...).
        lease_s: how long the lease lasts without renewal, in seconds.
    """

    def __init__(self, redis: redis_lib.Redis, key: str, lease_s: float) -> None:
        self.leases = Leases(redis)
        self.key = key
        self.lease_s = lease_s
        self.value = uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lease; False when another holder has it."""
        return self.leases.take(self.key, self.value, self.lease_s).held

    def renew(self) -> bool:
        """Extend the lease; False when it was lost (expired and taken, or released)."""
        return self.leases.renew(self.key, self.value, self.lease_s)

    def release(self) -> None:
        """Give the lease back (only if still ours)."""
        self.leases.release(self.key, self.value)
