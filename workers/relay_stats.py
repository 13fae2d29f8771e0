"""What the outbox relay has done, for operators: counters and a snapshot with the backlog."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from vbq.metrics import DEAD_LETTERED, EVENTS_PUBLISHED

__all__ = ["RelayCounters", "RelayStats"]


@dataclass(frozen=True, kw_only=True)
class RelayStats:
    """A snapshot of the relay's counters (since the relay object was created).

    Attributes:
        published: events confirmed by Pub/Sub and removed from the outbox.
        failed: publish attempts that failed (each is retried later).
        dropped: events removed unpublished because their type is not in ``event_types``.
        dead_lettered: malformed outbox entries sent to the dead-letter topic.
        in_flight: publishes handed to Pub/Sub and not yet confirmed.
        outbox_depth: entries in ``vbq:outbox`` now (``XLEN``).
        oldest_entry_age_s: age of the oldest outbox entry in seconds (from its stream id's
            millisecond timestamp); 0.0 when the outbox is empty.
        holds_lock: whether this relay held the lease at its last round.
    """

    published: int
    failed: int
    dropped: int
    dead_lettered: int
    in_flight: int
    outbox_depth: int
    oldest_entry_age_s: float
    holds_lock: bool


class RelayCounters:
    """Thread-safe totals of one relay (``stats()`` may run on another thread than the loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = {"published": 0, "failed": 0, "dropped": 0, "dead_lettered": 0}

    def add(
        self, *, published: int = 0, failed: int = 0, dropped: int = 0, dead_lettered: int = 0
    ) -> None:
        """Count one round's outcome; published and dead-lettered also go to Prometheus."""
        with self._lock:
            self._totals["published"] += published
            self._totals["failed"] += failed
            self._totals["dropped"] += dropped
            self._totals["dead_lettered"] += dead_lettered
        if published:
            EVENTS_PUBLISHED.inc(published)
        if dead_lettered:
            DEAD_LETTERED.labels(source="relay").inc(dead_lettered)

    def snapshot(self) -> dict[str, int]:
        """``{published, failed, dropped, dead_lettered}`` now."""
        with self._lock:
            return dict(self._totals)
