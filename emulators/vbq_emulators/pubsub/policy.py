"""How a subscription redelivers and retains: its policy, a timer pass's result, retained logs.

:class:`RetainedLog` keeps published messages by number for as long as a retention window says
(acknowledged messages of a ``retain_acked_messages`` subscription, or every message of a topic
with ``message_retention_duration``), so that ``Seek`` can mark them unacknowledged again.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

from vbq_emulators.pubsub.model import Entry, StoredMessage

__all__ = ["DeliveryPolicy", "RetainedLog", "TickResult"]


@dataclass(frozen=True, kw_only=True)
class DeliveryPolicy:
    """How a subscription redelivers and what it keeps.

    Attributes:
        retry_min_backoff_s: first backoff after a nack or expiry, seconds (0 = no retry policy:
            redeliver at once).
        retry_max_backoff_s: longest backoff, seconds.
        max_delivery_attempts: deliveries before dead-lettering (0 = no dead-letter policy).
        retention_s: messages older than this are dropped (unacked ones too), seconds.
        ordered: deliver one message per ordering key at a time, in publish order.
        retain_acked: keep acknowledged messages until ``retention_s`` (``Seek`` to a time).
    """

    retry_min_backoff_s: float = 0.0
    retry_max_backoff_s: float = 0.0
    max_delivery_attempts: int = 0
    retention_s: float = 7 * 24 * 3600.0
    ordered: bool = False
    retain_acked: bool = False

    def backoff_s(self, deliveries: int) -> float:
        """Seconds to wait before delivery number ``deliveries + 1``."""
        if self.retry_min_backoff_s <= 0:
            return 0.0
        exponent = min(max(deliveries - 1, 0), 30)
        return min(self.retry_max_backoff_s, self.retry_min_backoff_s * float(2**exponent))


@dataclass
class TickResult:
    """What a timer pass changed.

    Attributes:
        exhausted: entries past ``max_delivery_attempts`` (the caller forwards or requeues them).
        dropped: entries removed because they outlived the retention period.
        woke: some message became deliverable.
    """

    exhausted: list[Entry] = field(default_factory=list)
    dropped: list[Entry] = field(default_factory=list)
    woke: bool = False


class RetainedLog:
    """Messages kept by number until they are older than a retention window.

    Pruning costs O(log n) per message removed: a heap orders the numbers by publish time.
    """

    def __init__(self) -> None:
        self._messages: dict[int, StoredMessage] = {}
        self._by_time: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._messages)

    def __contains__(self, number: object) -> bool:
        return number in self._messages

    def add(self, message: StoredMessage) -> None:
        """Keep ``message`` (again)."""
        if message.number not in self._messages:
            self._messages[message.number] = message
            heapq.heappush(self._by_time, (message.publish_time_s, message.number))

    def discard(self, number: int) -> None:
        """Forget a message (its heap item is skipped when it comes up)."""
        self._messages.pop(number, None)

    def prune(self, cutoff_s: float) -> int:
        """Drop messages published before ``cutoff_s`` (epoch seconds); returns how many."""
        dropped = 0
        while self._by_time and self._by_time[0][0] < cutoff_s:
            _, number = heapq.heappop(self._by_time)
            if self._messages.pop(number, None) is not None:
                dropped += 1
        if len(self._by_time) > 2 * len(self._messages) + 1024:
            self._by_time = [(m.publish_time_s, n) for n, m in self._messages.items()]
            heapq.heapify(self._by_time)
        return dropped

    def clear(self) -> None:
        """Forget everything."""
        self._messages.clear()
        self._by_time.clear()

    def values(self) -> Iterator[StoredMessage]:
        """The kept messages (any order)."""
        return iter(list(self._messages.values()))

    def numbers(self) -> list[int]:
        """The kept message numbers, ascending."""
        return sorted(self._messages)
