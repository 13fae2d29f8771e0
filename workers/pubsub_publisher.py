"""The relay's view of Pub/Sub: publish one message, resume a paused ordering key.

:class:`EventPublisher` is the small interface the outbox relay depends on; :class:`PubSubPublisher`
is the real implementation on Google's ``PublisherClient`` (message ordering on). Unit tests use a
fake with the same two methods.

Failure model of the real client, which the relay builds on: transient errors (UNAVAILABLE,
DEADLINE_EXCEEDED, ...) are retried without a deadline when ordering is on, so during an outage a
publish future simply stays pending and completes once Pub/Sub is back; a permanent error fails
the future and *pauses* the ordering key: every later message of that key fails too until
:meth:`EventPublisher.resume` is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from typing import Protocol

from google.cloud import pubsub_v1

from vbq.pubsub.admin import publisher_client
from vbq.settings import Settings

__all__ = ["EventPublisher", "PubSubPublisher"]


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


class PubSubPublisher:
    """:class:`EventPublisher` on Google's ``PublisherClient`` with message ordering.

    Args:
        client: a ``PublisherClient`` built with ``enable_message_ordering=True``
            (see :func:`vbq.pubsub.admin.publisher_client`).
    """

    def __init__(self, *, client: pubsub_v1.PublisherClient) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> PubSubPublisher:
        """Build on ``settings`` (the emulator when ``pubsub_emulator_host`` is set)."""
        return cls(client=publisher_client(settings, enable_message_ordering=True))

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        attributes: Mapping[str, str],
        ordering_key: str = "",
    ) -> Future[str]:
        """Queue one message (batched by the client, ~10 ms); see :class:`EventPublisher`."""
        future: Future[str] = self._client.publish(
            topic, data, ordering_key=ordering_key, **dict(attributes)
        )
        return future

    def resume(self, topic: str, ordering_key: str) -> None:
        """Unpause ``ordering_key``; a no-op when it is not paused."""
        try:
            self._client.resume_publish(topic, ordering_key)
        except (RuntimeError, ValueError):
            # Not paused (or no sequencer yet): nothing to resume.
            pass

    def close(self) -> None:
        """Flush and stop the client (waits for queued batches to be sent)."""
        self._client.stop()
