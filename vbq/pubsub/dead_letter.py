"""Dead-letter sink: where messages that are not valid job events go.

A malformed message is published to the dead-letter topic (``Settings.dead_letter_topic``) with
its original data and attributes plus:

- ``vbq_error``: why it was refused (``EventError``'s message, at most 1,000 characters),
- ``vbq_subscription``: the subscription it came from,
- ``vbq_message_id``: its original Pub/Sub message id.

The runtime acks the original only after the dead-letter publish was confirmed, so a message is
never dropped. Messages whose handlers keep failing are a different case: Pub/Sub itself moves
them to the same topic after ``max_delivery_attempts`` (the subscription's dead-letter policy).
"""

from __future__ import annotations

from collections.abc import Mapping

from google.cloud import pubsub_v1

from vbq.errors import PubSubError
from vbq.pubsub.admin import publisher_client
from vbq.settings import Settings

__all__ = ["MAX_REASON_CHARS", "DeadLetterSink"]

MAX_REASON_CHARS = 1000  # Pub/Sub limits an attribute value to 1,024 bytes


class DeadLetterSink:
    """Publishes refused messages to the dead-letter topic and waits for confirmation.

    Args:
        client: a ``PublisherClient``.
        topic_path: ``projects/P/topics/T`` of the dead-letter topic.
        timeout_s: how long :meth:`send` waits for Pub/Sub's confirmation, in seconds.
    """

    def __init__(
        self, *, client: pubsub_v1.PublisherClient, topic_path: str, timeout_s: float = 30.0
    ) -> None:
        self._client = client
        self.topic_path = topic_path
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadLetterSink:
        """A sink on ``settings.dead_letter_topic_path()``."""
        return cls(
            client=publisher_client(settings, enable_message_ordering=False),
            topic_path=settings.dead_letter_topic_path(),
        )

    def send(
        self,
        data: bytes,
        *,
        attributes: Mapping[str, str],
        reason: str,
        subscription: str = "",
        message_id: str = "",
    ) -> str:
        """Publish ``data`` with ``attributes`` and the reason; returns the new message id.

        Raises:
            PubSubError: not confirmed within ``timeout_s`` or refused.
        """
        attrs = dict(attributes)
        attrs["vbq_error"] = reason[:MAX_REASON_CHARS] or "malformed"
        if subscription:
            attrs["vbq_subscription"] = subscription
        if message_id:
            attrs["vbq_message_id"] = message_id
        try:
            future = self._client.publish(self.topic_path, data, **attrs)
            return str(future.result(timeout=self._timeout_s))
        except Exception as exc:
            raise PubSubError(f"dead-letter publish to {self.topic_path} failed: {exc}") from exc

    def close(self) -> None:
        """Flush and stop the publisher."""
        self._client.stop()
