"""Delivery state of one subscription: ready queue, leases, backoff, ordering, retention.

Every method runs under the broker's lock and costs O(messages touched), never a scan of the
backlog: ready messages sit in a deque, leases in a dict by ack id, deadlines and backoffs in
heaps whose stale items are skipped by version. With message ordering, only the head of each
ordering key is ever ready, leased or delayed; the rest wait in that key's deque.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable

from vbq_emulators.pubsub.model import Entry, EntryState, StoredMessage, StreamState
from vbq_emulators.pubsub.policy import DeliveryPolicy, RetainedLog, TickResult

__all__ = ["DeliveryPolicy", "SubscriptionQueue", "TickResult"]  # the policy types are re-exported

MAX_BATCH_MESSAGES = 1000
"""Most messages in one delivery, whatever the flow control allows."""
MAX_BATCH_BYTES = 8 * 1024 * 1024
"""Most bytes in one delivery (one message always fits), below gRPC's message size limit."""


class SubscriptionQueue:
    """The messages of one subscription and their delivery state.

    Args:
        epoch: a token unique to this server process, part of every ack id so ack ids from a
            previous run are never mistaken for current ones.
        policy: redelivery, dead-letter, retention and ordering settings.
    """

    def __init__(self, *, epoch: str, policy: DeliveryPolicy) -> None:
        self.epoch = epoch
        self.policy = policy
        self.live: dict[int, Entry] = {}
        self._ready: deque[Entry] = deque()
        self._leases: dict[str, Entry] = {}
        self._deadlines: list[tuple[float, int, int, Entry]] = []
        self._delayed: list[tuple[float, int, int, Entry]] = []
        self._by_publish: deque[Entry] = deque()
        self._keys: dict[str, deque[Entry]] = {}
        self._seq = itertools.count()
        self.retained = RetainedLog()
        self.delivered = 0
        self.acked = 0
        self.expired = 0
        self.nacked = 0

    # -- adding ---------------------------------------------------------------------------

    def add(self, message: StoredMessage, *, deliveries: int = 0) -> Entry:
        """Enqueue a newly published (or replayed) message."""
        entry = Entry(message=message, deliveries=deliveries)
        self.live[message.number] = entry
        self._by_publish.append(entry)
        key = message.ordering_key
        if self.policy.ordered and key:
            waiting = self._keys.get(key)
            if waiting:
                waiting.append(entry)
                return entry
            self._keys[key] = deque([entry])
        entry.state = EntryState.READY
        self._ready.append(entry)
        return entry

    def has_ready(self) -> bool:
        """Whether a delivery could hand out a message now."""
        while self._ready and self._ready[0].state is not EntryState.READY:
            self._ready.popleft()
        return bool(self._ready)

    # -- delivering -----------------------------------------------------------------------

    def take(
        self,
        *,
        now_s: float,
        ack_deadline_s: float,
        stream: StreamState | None,
        max_messages: int,
    ) -> list[Entry]:
        """Lease up to ``max_messages`` ready messages, honouring the stream's flow control.

        A stream with a byte limit always gets at least one message when it has none
        outstanding, so that one large message cannot block it forever.
        """
        limit = min(max_messages, MAX_BATCH_MESSAGES)
        byte_room: int | None = None
        if stream is not None:
            if stream.max_messages > 0:
                limit = min(limit, stream.max_messages - stream.outstanding_messages)
            if stream.max_bytes > 0:
                byte_room = stream.max_bytes - stream.outstanding_bytes
        out: list[Entry] = []
        taken_bytes = 0
        while len(out) < limit and self._ready:
            entry = self._ready[0]
            if entry.state is not EntryState.READY:
                self._ready.popleft()
                continue
            size = entry.message.size_bytes
            if out and taken_bytes + size > MAX_BATCH_BYTES:
                break
            nothing_outstanding = not out and (stream is None or stream.outstanding_bytes == 0)
            if byte_room is not None and taken_bytes + size > byte_room and not nothing_outstanding:
                break
            self._ready.popleft()
            self._lease(entry, now_s=now_s, ack_deadline_s=ack_deadline_s, stream=stream)
            taken_bytes += size
            out.append(entry)
        return out

    def _lease(
        self, entry: Entry, *, now_s: float, ack_deadline_s: float, stream: StreamState | None
    ) -> None:
        entry.deliveries += 1
        entry.state = EntryState.LEASED
        entry.version += 1
        entry.ack_id = f"{self.epoch}-{entry.message.number}-{entry.deliveries}"
        entry.deadline_s = now_s + ack_deadline_s
        entry.modacks = 0
        entry.stream = stream
        self._leases[entry.ack_id] = entry
        heapq.heappush(self._deadlines, (entry.deadline_s, next(self._seq), entry.version, entry))
        self.delivered += 1
        if stream is not None:
            stream.outstanding_messages += 1
            stream.outstanding_bytes += entry.message.size_bytes
            stream.delivered += 1
            stream.peak_outstanding_messages = max(
                stream.peak_outstanding_messages, stream.outstanding_messages
            )
            stream.peak_outstanding_bytes = max(
                stream.peak_outstanding_bytes, stream.outstanding_bytes
            )

    def _end_lease(self, entry: Entry) -> None:
        self._leases.pop(entry.ack_id, None)
        stream = entry.stream
        if stream is not None:
            stream.outstanding_messages -= 1
            stream.outstanding_bytes -= entry.message.size_bytes
            entry.stream = None

    # -- acks and deadlines ---------------------------------------------------------------

    def _stale_entry(self, ack_id: str) -> Entry | None:
        parts = ack_id.split("-")
        if len(parts) != 3 or parts[0] != self.epoch:
            return None
        try:
            number, deliveries = int(parts[1]), int(parts[2])
        except ValueError:
            return None
        entry = self.live.get(number)
        if entry is None or entry.deliveries != deliveries:
            return None
        return entry

    def ack(self, ack_ids: Iterable[str]) -> list[Entry]:
        """Acknowledge; returns the entries that are now done (unknown ids are ignored).

        A late ack (after the deadline passed) still counts while the message waits for
        redelivery, as on Google; once redelivered, only the new ack id acks it.
        """
        done: list[Entry] = []
        for ack_id in ack_ids:
            entry = self._leases.get(ack_id)
            if entry is None:
                entry = self._stale_entry(ack_id)
                if entry is None or entry.state not in {EntryState.READY, EntryState.DELAYED}:
                    continue
            self.retire(entry)
            self.acked += 1
            done.append(entry)
        return done

    def modify(self, ack_ids: Iterable[str], seconds: float, *, now_s: float) -> list[Entry]:
        """Set the deadline of current leases; 0 is a nack. Returns exhausted entries."""
        exhausted: list[Entry] = []
        for ack_id in ack_ids:
            entry = self._leases.get(ack_id)
            if entry is None:
                continue
            if seconds <= 0:
                self.nacked += 1
                if self._release(entry, now_s=now_s):
                    exhausted.append(entry)
                continue
            entry.deadline_s = now_s + seconds
            entry.modacks += 1
            entry.version += 1
            heapq.heappush(
                self._deadlines, (entry.deadline_s, next(self._seq), entry.version, entry)
            )
        self._compact_heap()
        return exhausted

    def _release(self, entry: Entry, *, now_s: float) -> bool:
        """End a lease for redelivery; True when the message is out of delivery attempts."""
        self._end_lease(entry)
        entry.version += 1
        attempts = self.policy.max_delivery_attempts
        if attempts and entry.deliveries >= attempts:
            # Parked until the caller forwards it (finish) or cannot (requeue).
            entry.state = EntryState.DELAYED
            entry.available_s = float("inf")
            return True
        delay = self.policy.backoff_s(entry.deliveries)
        if delay > 0:
            entry.state = EntryState.DELAYED
            entry.available_s = now_s + delay
            heapq.heappush(
                self._delayed, (entry.available_s, next(self._seq), entry.version, entry)
            )
        else:
            entry.state = EntryState.READY
            # Redeliveries go first: a nacked message should not wait behind the whole backlog.
            self._ready.appendleft(entry)
        return False

    def requeue(self, entry: Entry) -> None:
        """Make an exhausted entry deliverable again (its dead-letter topic is missing)."""
        if entry.state is EntryState.DELAYED:
            entry.state = EntryState.READY
            entry.version += 1
            self._ready.appendleft(entry)

    def retire(self, entry: Entry) -> None:
        """Finish an acknowledged (or dead-lettered) entry; keep its message when the policy
        retains acknowledged messages, so a ``Seek`` can bring it back."""
        self.finish(entry)
        if self.policy.retain_acked:
            self.retained.add(entry.message)

    def reset(self, unacked: Iterable[StoredMessage], acked: Iterable[StoredMessage]) -> None:
        """Replace the whole state (a ``Seek``): ``unacked`` become deliverable again with no
        delivery attempts, ``acked`` are kept as retained; current leases end."""
        self.close()
        for message in sorted(unacked, key=lambda m: m.number):
            self.add(message)
        for message in acked:
            self.retained.add(message)

    def finish(self, entry: Entry) -> None:
        """Remove an entry for good (acked, dead-lettered or expired by retention)."""
        previous = entry.state
        if previous is EntryState.DONE:
            return
        if previous is EntryState.LEASED:
            self._end_lease(entry)
        entry.state = EntryState.DONE
        entry.version += 1
        self.live.pop(entry.message.number, None)
        key = entry.message.ordering_key
        waiting = self._keys.get(key) if self.policy.ordered and key else None
        if waiting is None:
            return
        if previous is EntryState.WAITING:
            waiting.remove(entry)
            return
        if waiting and waiting[0] is entry:
            waiting.popleft()
        if waiting:
            head = waiting[0]
            head.state = EntryState.READY
            self._ready.append(head)
        else:
            del self._keys[key]

    # -- timers ---------------------------------------------------------------------------

    def tick(self, now_s: float) -> TickResult:
        """Expire leases, end backoffs and drop messages past retention, as of ``now_s``."""
        result = TickResult()
        while self._deadlines and self._deadlines[0][0] <= now_s:
            _, _, version, entry = heapq.heappop(self._deadlines)
            if entry.state is EntryState.LEASED and entry.version == version:
                self.expired += 1
                if self._release(entry, now_s=now_s):
                    result.exhausted.append(entry)
                else:
                    result.woke = True
        while self._delayed and self._delayed[0][0] <= now_s:
            _, _, version, entry = heapq.heappop(self._delayed)
            if entry.state is EntryState.DELAYED and entry.version == version:
                entry.state = EntryState.READY
                entry.version += 1
                self._ready.appendleft(entry)
                result.woke = True
        cutoff = now_s - self.policy.retention_s
        while self._by_publish:
            entry = self._by_publish[0]
            if entry.state is EntryState.DONE:
                self._by_publish.popleft()
                continue
            if entry.message.publish_time_s >= cutoff:
                break
            self._by_publish.popleft()
            self.finish(entry)
            result.dropped.append(entry)
            result.woke = True  # a dropped ordered head frees the next message of its key
        self.retained.prune(cutoff)
        return result

    def _compact_heap(self) -> None:
        # Every modack pushes a new heap item; drop the stale ones before they pile up.
        if len(self._deadlines) > 4 * len(self._leases) + 1024:
            self._deadlines = [
                item
                for item in self._deadlines
                if item[3].state is EntryState.LEASED and item[3].version == item[2]
            ]
            heapq.heapify(self._deadlines)

    def close(self) -> None:
        """Forget every message (the subscription was deleted); releases stream counters."""
        for entry in list(self._leases.values()):
            self._end_lease(entry)
        for entry in self.live.values():
            entry.state = EntryState.DONE
        self.live.clear()
        self._ready.clear()
        self._keys.clear()
        self._deadlines.clear()
        self._delayed.clear()
        self._by_publish.clear()
        self.retained.clear()

    def leased(self) -> list[Entry]:
        """The entries leased now (delivered, not acked; a deadline that passed but was not yet
        swept still counts)."""
        return list(self._leases.values())

    def stats(self) -> dict[str, int]:
        """Counters for the admin endpoint."""
        return {
            "backlog": len(self.live),
            "retained_acked": len(self.retained),
            "outstanding": len(self._leases),
            "ordering_keys": len(self._keys),
            "delivered": self.delivered,
            "acked": self.acked,
            "nacked": self.nacked,
            "expired": self.expired,
        }
