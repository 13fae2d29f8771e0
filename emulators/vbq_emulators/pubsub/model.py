"""The emulator's in-memory records: a published message, its per-subscription entry, a stream."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Entry", "EntryState", "StoredMessage", "StreamState"]


@dataclass(slots=True, eq=False)
class StoredMessage:
    """One published message, shared by every subscription that holds it.

    Attributes:
        number: global publish sequence; the message id is its decimal string.
        topic: full topic path it was published to.
        publish_time_s: server time of publishing, epoch seconds.
        pb: the ``google.pubsub.v1.PubsubMessage`` as delivered (id and time filled in).
        size_bytes: serialized size of ``pb`` (what flow control counts, like Google's client).
    """

    number: int
    topic: str
    data: bytes
    attributes: dict[str, str]
    ordering_key: str
    publish_time_s: float
    pb: Any
    size_bytes: int

    @property
    def message_id(self) -> str:
        """The id Publish returned for this message."""
        return str(self.number)


class EntryState(enum.Enum):
    """Where a message stands in one subscription."""

    WAITING = "waiting"
    """Behind an earlier message of the same ordering key."""
    READY = "ready"
    """Deliverable now."""
    DELAYED = "delayed"
    """Nacked or expired; deliverable after the retry policy's backoff."""
    LEASED = "leased"
    """Delivered and not acked; comes back when its ack deadline passes."""
    DONE = "done"
    """Acked, dead-lettered, or dropped after the retention period."""


@dataclass(slots=True, eq=False)
class StreamState:
    """Flow-control counters of one StreamingPull stream.

    Attributes:
        max_messages: the client's ``max_outstanding_messages`` (0 = no limit).
        max_bytes: the client's ``max_outstanding_bytes`` (0 = no limit).
        ack_deadline_s: lease given to messages delivered on this stream, seconds.
        peak_outstanding_messages: the most unacked messages this stream ever had at once.
        peer: the client's address as gRPC reports it (``ipv4:127.0.0.1:PORT``).
        requests: requests received on the stream (the first one and heartbeats).
        opened_s / last_request_s: when the stream opened / last sent a request, epoch seconds.
        sending_since_s: when the response being sent now was handed to gRPC (0 = none): a
            client that stops reading leaves it set.
    """

    stream_id: int
    subscription: str
    client_id: str
    max_messages: int
    max_bytes: int
    ack_deadline_s: float
    outstanding_messages: int = 0
    outstanding_bytes: int = 0
    peak_outstanding_messages: int = 0
    peak_outstanding_bytes: int = 0
    delivered: int = 0
    open: bool = True
    peer: str = ""
    requests: int = 0
    opened_s: float = 0.0
    last_request_s: float = 0.0
    sending_since_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The counters as JSON-ready values (the admin endpoint's view)."""
        return {
            "stream_id": self.stream_id,
            "subscription": self.subscription,
            "client_id": self.client_id,
            "max_outstanding_messages": self.max_messages,
            "max_outstanding_bytes": self.max_bytes,
            "ack_deadline_s": self.ack_deadline_s,
            "outstanding_messages": self.outstanding_messages,
            "outstanding_bytes": self.outstanding_bytes,
            "peak_outstanding_messages": self.peak_outstanding_messages,
            "peak_outstanding_bytes": self.peak_outstanding_bytes,
            "delivered": self.delivered,
            "open": self.open,
            "peer": self.peer,
            "requests": self.requests,
            "opened_s": self.opened_s,
            "last_request_s": self.last_request_s,
            "sending_since_s": self.sending_since_s,
        }


@dataclass(slots=True, eq=False)
class Entry:
    """A message's state in one subscription.

    Attributes:
        deliveries: how many times it was handed out (Google's ``delivery_attempt``).
        ack_id: the ack id of the current (or latest) delivery.
        deadline_s: when the current lease ends, epoch seconds.
        version: bumped on every lease or delay change, so stale timer entries are ignored.
        modacks: deadline extensions of the current lease.
    """

    message: StoredMessage
    deliveries: int = 0
    state: EntryState = EntryState.WAITING
    ack_id: str = ""
    deadline_s: float = 0.0
    available_s: float = 0.0
    stream: StreamState | None = None
    version: int = 0
    modacks: int = 0
