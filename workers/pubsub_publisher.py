"""The relay's view of Pub/Sub: publish one message, resume a paused ordering key.

:class:`EventPublisher` is the small interface the outbox relay depends on;
:class:`vbq.workers.pubsub_batched.BatchedPublisher` is the real implementation (many ordering
keys per Publish request). Unit tests use a fake with the same methods.

Failure model, Google's ``PublisherClient`` with ordering on, which the relay builds on:
transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, ...) are retried without end, so during an
outage a publish future simply stays pending and completes once Pub/Sub is back; a permanent
error fails the future and *pauses* the ordering key: every later message of that key fails too
until :meth:`EventPublisher.resume` is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from typing import Protocol

__all__ = ["EventPublisher"]


class EventPublisher(Protocol):
    """Publishes messages; the returned future's result is the Pub/Sub message id."""

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        attributes: Mapping[str, str],
        ordering_key: str = "",
    ) -> Future[str]:
        """Queue one message; the future resolves to its message id or fails with the reason."""
        ...

    def resume(self, topic: str, ordering_key: str) -> None:
        """Accept messages for ``ordering_key`` again after a failed publish paused it."""
        ...

    def close(self) -> None:
        """Flush queued messages and release the connection."""
        ...
