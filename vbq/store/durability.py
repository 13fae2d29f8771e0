"""Waiting for replicas before a write counts as acknowledged (Redis ``WAIT``).

With a replica behind Sentinel, a write the primary acknowledged can still be lost: the primary
fails before its asynchronous replication copied the write, and Sentinel promotes the replica.
:class:`ReplicaWait` closes that window for the writes vbq promises to keep (new submissions):
it appends ``WAIT numreplicas timeout`` to the *same pipeline* (so the same connection) as the
write, and raises :class:`~vbq.errors.ReplicationTimeoutError` when fewer replicas confirmed.

``WAIT`` only covers writes of its own connection. An idempotent replay (the record exists, the
script wrote nothing) would return at once without proving that the *earlier* write reached a
replica, so a ``PUBLISH`` on ``vbq:replication:barrier`` (propagated to replicas, stores
nothing) goes first: replication is one ordered stream, so once a replica confirmed the
barrier it has everything the primary had before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis as redis_lib

from vbq.errors import ReplicationTimeoutError
from vbq.settings import Settings

__all__ = ["BARRIER_CHANNEL", "ReplicaWait"]

BARRIER_CHANNEL = "vbq:replication:barrier"
"""Pub/Sub channel of the barrier message (nobody listens; it only moves the offset)."""


class ReplicaWait:
    """Appends the barrier and ``WAIT`` to a pipeline and checks the reply.

    Args:
        replicas: replicas that must confirm (0 = do nothing).
        timeout_s: how long ``WAIT`` blocks at most, in seconds (rounded up to whole ms).
    """

    def __init__(self, *, replicas: int, timeout_s: float) -> None:
        self.replicas = replicas
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicaWait:
        """``VBQ_REDIS_WAIT_REPLICAS`` and ``VBQ_REDIS_WAIT_TIMEOUT_S``."""
        return cls(replicas=settings.redis_wait_replicas, timeout_s=settings.redis_wait_timeout_s)

    @property
    def enabled(self) -> bool:
        """True when writes wait for at least one replica."""
        return self.replicas > 0

    def append(self, pipe: redis_lib.client.Pipeline) -> int:
        """Queue the barrier and ``WAIT`` on ``pipe``; returns how many replies they add."""
        if not self.enabled:
            return 0
        pipe.publish(BARRIER_CHANNEL, "")
        # WAIT 0 would block forever: at least 1 ms.
        pipe.wait(self.replicas, max(1, round(self.timeout_s * 1000)))
        return 2

    def check(self, replies: Sequence[Any]) -> list[Any]:
        """The replies of the writes (the barrier's and ``WAIT``'s removed).

        Raises:
            ReplicationTimeoutError: ``WAIT`` reported fewer replicas than wanted.
        """
        if not self.enabled:
            return list(replies)
        confirmed = int(replies[-1])
        if confirmed < self.replicas:
            raise ReplicationTimeoutError(
                wanted=self.replicas, confirmed=confirmed, timeout_s=self.timeout_s
            )
        return list(replies[:-2])
