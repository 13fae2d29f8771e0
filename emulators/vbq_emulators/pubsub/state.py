"""Shared state of the broker: the records, the lock, the journal hooks, and publishing.

:class:`BrokerState` holds everything; :mod:`.resources` (topics and subscriptions) and
:mod:`.delivery` (pull, streams, acks, dead letters) add their operations on top of it, and
:class:`~vbq_emulators.pubsub.broker.Broker` assembles them with the timer and persistence.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.pubsub_v1 import types

from vbq_emulators.pubsub.filters import Filter
from vbq_emulators.pubsub.journal import Journal
from vbq_emulators.pubsub.model import StoredMessage, StreamState
from vbq_emulators.pubsub.policy import RetainedLog
from vbq_emulators.pubsub.queue import SubscriptionQueue
from vbq_emulators.pubsub.schema_registry import SchemaRegistry
from vbq_emulators.pubsub.status import StatusError

__all__ = ["BrokerState", "OutgoingMessage", "SnapshotRecord", "SubscriptionRecord", "b64"]

PubsubMessagePb: Any = types.PubsubMessage.pb()


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to publish: payload, attributes, ordering key.

    Attributes:
        pb: the request's ``PubsubMessage`` when there is one; copying it is much cheaper than
            building a new one attribute by attribute.
    """

    data: bytes
    attributes: dict[str, str]
    ordering_key: str = ""
    pb: Any = None


@dataclass(eq=False)
class SubscriptionRecord:
    """One subscription: its settings, filter, queue, and the streams pulling from it."""

    name: str
    config: Any
    filter: Filter
    queue: SubscriptionQueue
    cond: threading.Condition
    streams: dict[int, StreamState] = field(default_factory=dict)
    closed_streams: deque[StreamState] = field(default_factory=lambda: deque(maxlen=20))


@dataclass(eq=False)
class SnapshotRecord:
    """One snapshot: its resource and the messages it retains.

    Attributes:
        pb: the ``google.pubsub.v1.Snapshot`` (name, topic, expire_time, labels).
        messages: by number: the source subscription's backlog when the snapshot was taken, and
            every message published to the topic since (numbers >= ``after``).
        after: the first message number published after the snapshot was taken.
        expire_s: when the snapshot goes away, epoch seconds.
    """

    pb: Any
    messages: dict[int, StoredMessage]
    after: int
    expire_s: float


def b64(data: bytes) -> str:
    """Base64 text of ``data`` (how the journal stores bytes)."""
    return base64.b64encode(data).decode("ascii")


class BrokerState:
    """The broker's data and the helpers every operation shares (always under ``_lock``).

    Args:
        journal: where state changes are recorded, or ``None`` for memory only.
        clock: current time in epoch seconds.
    """

    def __init__(self, *, journal: Journal | None, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        # Part of every ack id, so ack ids handed out by an earlier process never match.
        self._epoch = secrets.token_hex(4)
        self._topics: dict[str, Any] = {}
        self._topic_subs: dict[str, set[str]] = {}
        self._subs: dict[str, SubscriptionRecord] = {}
        self._next_number = 1
        self._stream_ids = itertools.count(1)
        self._stopping = False
        self._journal = journal
        # Messages kept by topic retention (topics with message_retention_duration only).
        self._topic_logs: dict[str, RetainedLog] = {}
        self._snapshots: dict[str, SnapshotRecord] = {}
        self._topic_snaps: dict[str, set[str]] = {}
        self.schemas = SchemaRegistry()
        # While the journal is replayed: every message read so far, by number.
        self._replay_messages: dict[int, StoredMessage] | None = None
        self.published = 0
        self.dead_lettered = 0

    def now_s(self) -> float:
        """The broker's clock, in epoch seconds (injectable for tests)."""
        return self._clock()

    def _write(self, record: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.append(record)

    def _flush(self) -> None:
        if self._journal is not None:
            self._journal.flush()

    def subscription_record(self, name: str) -> SubscriptionRecord | None:
        """The subscription called ``name``, if any (caller holds the lock)."""
        return self._subs.get(name)

    def _sub(self, name: str) -> SubscriptionRecord:
        sub = self._subs.get(name)
        if sub is None:
            raise StatusError.not_found(f"subscription={name}")
        return sub

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Publish to ``topic``; returns the message ids in order.

        Raises:
            StatusError: NOT_FOUND (topic), INVALID_ARGUMENT (no messages, or a message with
                neither data nor attributes).
        """
        if not messages:
            raise StatusError.invalid_argument("The request contains no messages.")
        for msg in messages:
            if not msg.data and not msg.attributes:
                raise StatusError.invalid_argument(
                    "Some messages are empty: a message needs data or at least one attribute."
                )
        with self._lock:
            topic_pb = self._topics.get(topic)
            if topic_pb is None:
                raise StatusError.not_found(f"topic={topic}")
            extra = self.schema_attributes(topic_pb, messages)
            messages = [
                OutgoingMessage(m.data, {**m.attributes, **more}, m.ordering_key) if more else m
                for m, more in zip(messages, extra, strict=True)
            ]
            touched: set[str] = set()
            ids = [self._publish_one(topic, msg, touched) for msg in messages]
            for name in touched:
                self._subs[name].cond.notify_all()
            self._flush()
            return ids

    def schema_attributes(self, topic: Any, messages: Sequence[Any]) -> list[dict[str, str]]:
        """Attributes a topic's schema adds to each message (validation hook, see
        :class:`~vbq_emulators.pubsub.schemas.SchemaOps`)."""
        return [{} for _ in messages]

    def _fanout(self, stored: StoredMessage) -> None:
        """Keep a new message where the topic's retention and its snapshots want it."""
        log = self._topic_logs.get(stored.topic)
        if log is not None:
            log.add(stored)
        for name in self._topic_snaps.get(stored.topic, ()):
            snapshot = self._snapshots[name]
            if stored.number >= snapshot.after:
                snapshot.messages[stored.number] = stored

    def _publish_one(self, topic: str, msg: OutgoingMessage, touched: set[str]) -> str:
        now_s = self._clock()
        number = self._next_number
        stored = self._store_message(number, topic, msg, now_s)
        self._fanout(stored)
        holders = []
        for sub_name in sorted(self._topic_subs.get(topic, ())):
            sub = self._subs[sub_name]
            # Google auto-acks what a filter rejects: such messages never enter the queue.
            if sub.filter.matches(stored.attributes):
                sub.queue.add(stored)
                holders.append(sub_name)
                touched.add(sub_name)
        self.published += 1
        if self._journal is not None:
            self._write(
                {
                    "op": "pub",
                    "n": number,
                    "topic": topic,
                    "t": now_s,
                    "data": b64(msg.data),
                    "attrs": msg.attributes,
                    "key": msg.ordering_key,
                    "subs": holders,
                }
            )
        return stored.message_id

    def _store_message(
        self, number: int, topic: str, msg: OutgoingMessage, publish_time_s: float
    ) -> StoredMessage:
        self._next_number = max(self._next_number, number + 1)
        pb = PubsubMessagePb()
        if msg.pb is not None:
            pb.CopyFrom(msg.pb)
        else:
            pb.data = msg.data
            pb.ordering_key = msg.ordering_key
            pb.attributes.update(msg.attributes)
        pb.message_id = str(number)
        # Set the fields directly: Timestamp.FromNanoseconds is slow pure Python.
        nanos = int(publish_time_s * 1e9)
        pb.publish_time.seconds, pb.publish_time.nanos = divmod(nanos, 1_000_000_000)
        return StoredMessage(
            number=number,
            topic=topic,
            data=msg.data,
            attributes=dict(msg.attributes),
            ordering_key=msg.ordering_key,
            publish_time_s=publish_time_s,
            pb=pb,
            size_bytes=pb.ByteSize(),
        )
