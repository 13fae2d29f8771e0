"""Redis inbox: run a handler once per ``event_id`` per subscriber group.

Pub/Sub delivers at least once, and vbq's relay may publish an event twice (deterministic
``event_id``), so the subscriber dedupes. Key ``vbq:inbox:{group}:{event_id}`` (a string):

- absent: nobody handled the event yet;
- ``claim:{owner}:{nonce}``: a process is running the handlers now; the key is a short lease
  (``lease_s``, :mod:`vbq.leases`) that the runtime renews while the handlers run, so a crashed
  process's claim expires and a redelivery elsewhere can take over;
- ``done``: the handlers ran to the end; kept for ``ttl_s`` (``Settings.inbox_ttl_s``).

When several handlers match one event, each finished handler is also recorded in the set
``vbq:inbox:{group}:{event_id}:handlers`` so a retry after a partial failure runs only the ones
that did not finish; the set is deleted when the event is done.
"""

from __future__ import annotations

import enum
import os
import socket
import uuid
from collections.abc import Iterable
from typing import Any

import redis as redis_lib

from vbq.leases import Leases

__all__ = ["ClaimStatus", "Inbox", "inbox_key"]

_DONE = "done"


def inbox_key(group: str, event_id: str) -> str:
    """``vbq:inbox:{group}:{event_id}``."""
    return f"vbq:inbox:{group}:{event_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class ClaimStatus(enum.Enum):
    """Outcome of :meth:`Inbox.claim`."""

    CLAIMED = "claimed"
    """We hold the claim: run the handlers."""
    DONE = "done"
    """Handled before: ack without running."""
    BUSY = "busy"
    """Another live process is running it now."""


class Inbox:
    """Claims and completion marks for one subscriber group.

    Args:
        redis: a ``redis.Redis`` client (``decode_responses`` either way).
        group: the subscriber group (processes sharing one subscription share one group).
        ttl_s: how long a ``done`` mark is kept, in seconds.
        lease_s: lease of a claim in seconds; renew it with :meth:`renew` while running.
        owner: written into claims for debugging (default ``host:pid``).
    """

    def __init__(
        self,
        *,
        redis: redis_lib.Redis,
        group: str,
        ttl_s: int,
        lease_s: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self._redis = redis
        self.group = group
        self.ttl_s = ttl_s
        self.lease_ms = max(100, int(lease_s * 1000))
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._leases = Leases(redis)

    def key(self, event_id: str) -> str:
        """The inbox key of ``event_id`` in this group."""
        return inbox_key(self.group, event_id)

    def new_token(self) -> str:
        """A claim token unique to this attempt."""
        return f"claim:{self._owner}:{uuid.uuid4().hex[:12]}"

    def claim(self, event_id: str, token: str) -> ClaimStatus:
        """Try to claim ``event_id`` with ``token`` (lease ``lease_s``).

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        claim = self._leases.take(self.key(event_id), token, self.lease_ms / 1000)
        if claim.held:
            return ClaimStatus.CLAIMED
        return ClaimStatus.DONE if claim.value == _DONE else ClaimStatus.BUSY

    def renew(self, claims: Iterable[tuple[str, str]]) -> int:
        """Extend the lease of each ``(event_id, token)`` still ours; returns how many were.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        leases = ((self.key(event_id), token) for event_id, token in claims)
        return self._leases.renew_many(leases, self.lease_ms / 1000)

    def complete(self, event_id: str) -> None:
        """Mark ``event_id`` done for ``ttl_s`` seconds and forget per-handler progress.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.key(event_id), _DONE, ex=self.ttl_s)
        pipe.delete(self.key(event_id) + ":handlers")
        pipe.execute()

    def release(self, event_id: str, token: str) -> None:
        """Drop our claim (after a handler failed) so a redelivery can run it at once.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        self._leases.release(self.key(event_id), token)

    def is_done(self, event_id: str) -> bool:
        """True when ``event_id`` was handled in this group (within ``ttl_s``)."""
        value = self._redis.get(self.key(event_id))
        return value is not None and _text(value) == _DONE

    def handlers_done(self, event_id: str) -> set[str]:
        """Names of the handlers that already finished ``event_id`` (partial progress)."""
        return {_text(m) for m in self._redis.smembers(self.key(event_id) + ":handlers")}

    def mark_handler_done(self, event_id: str, handler: str) -> None:
        """Record that ``handler`` finished ``event_id`` (kept ``ttl_s`` seconds)."""
        key = self.key(event_id) + ":handlers"
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(key, handler)
        pipe.expire(key, self.ttl_s)
        pipe.execute()
