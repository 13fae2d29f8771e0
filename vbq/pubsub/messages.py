"""What a Pub/Sub consumer handles, as Protocols: a received message, a dead-letter sender.

Google's ``subscriber.message.Message`` and :class:`vbq.pubsub.dead_letter.DeadLetterSink`
satisfy them; the subscriber runtime and the bridge are typed against these, and unit tests pass
small fakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

__all__ = ["DeadLetterSender", "MessageLike"]


class MessageLike(Protocol):
    """The part of Google's ``subscriber.message.Message`` the runtime uses."""

    @property
    def data(self) -> bytes: ...
    @property
    def attributes(self) -> Mapping[str, str]: ...
    @property
    def message_id(self) -> str: ...
    @property
    def delivery_attempt(self) -> int | None: ...
    @property
    def publish_time(self) -> datetime: ...
    @property
    def ordering_key(self) -> str: ...
    def ack(self) -> None: ...
    def nack(self) -> None: ...


class DeadLetterSender(Protocol):
    """Where malformed messages go (:class:`~vbq.pubsub.dead_letter.DeadLetterSink`)."""

    def send(
        self,
        data: bytes,
        *,
        attributes: Mapping[str, str],
        reason: str,
        subscription: str = "",
        message_id: str = "",
    ) -> str: ...

    def close(self) -> None: ...
