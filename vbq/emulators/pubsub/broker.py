"""The emulator's state: topics, subscriptions and messages, behind one lock.

One :class:`threading.RLock` guards everything; each subscription has its own
:class:`threading.Condition` on that lock, so a publish or an ack wakes only the streams of the
subscriptions it touched. A timer thread expires leases, ends backoffs and applies retention.
When a journal is configured, every state change is written to it before the call returns.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.pubsub_v1 import types

from vbq.emulators.pubsub import config
from vbq.emulators.pubsub.config import TopicPb
from vbq.emulators.pubsub.filters import Filter, parse_filter
from vbq.emulators.pubsub.journal import Journal
from vbq.emulators.pubsub.model import Entry, StoredMessage, StreamState
from vbq.emulators.pubsub.queue import SubscriptionQueue
from vbq.emulators.pubsub.status import StatusError
from vbq.logs import get_logger

__all__ = ["Broker", "OutgoingMessage"]

log = get_logger(__name__)

PubsubMessagePb: Any = types.PubsubMessage.pb()
ReceivedMessagePb: Any = types.ReceivedMessage.pb()

TICK_INTERVAL_S = 0.05
"""How often the timer thread looks for expired leases and ended backoffs, seconds."""
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to publish: payload, attributes, ordering key."""

    data: bytes
    attributes: dict[str, str]
    ordering_key: str = ""


@dataclass(eq=False)
class _Subscription:
    name: str
    config: Any
    filter: Filter
    queue: SubscriptionQueue
    cond: threading.Condition
    streams: dict[int, StreamState] = field(default_factory=dict)
    closed_streams: deque[StreamState] = field(default_factory=lambda: deque(maxlen=20))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _page(names: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    size = MAX_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
    names = sorted(n for n in names if n > page_token) if page_token else sorted(names)
    chunk = names[:size]
    return chunk, (chunk[-1] if len(names) > size else "")


class Broker:
    """Topics, subscriptions and their messages, safe to call from many gRPC threads.

    Args:
        journal_path: file to persist state to (``None``: memory only). Read back at start.
        clock: current time in epoch seconds (injectable for tests).
    """

    def __init__(
        self, *, journal_path: Path | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._epoch = secrets.token_hex(4)
        self._topics: dict[str, Any] = {}
        self._topic_subs: dict[str, set[str]] = {}
        self._subs: dict[str, _Subscription] = {}
        self._next_number = 1
        self._stream_ids = itertools.count(1)
        self._stopping = False
        self._timer: threading.Thread | None = None
        self._timer_stop = threading.Event()
        self.published = 0
        self.dead_lettered = 0
        self._journal = Journal(journal_path) if journal_path is not None else None
        if self._journal is not None:
            self._load(self._journal)

    # -- persistence ----------------------------------------------------------------------

    def _write(self, record: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.append(record)

    def _flush(self) -> None:
        if self._journal is not None:
            self._journal.flush()

    def _load(self, journal: Journal) -> None:
        from vbq.emulators.pubsub.persistence import apply_record, snapshot_records

        with self._lock:
            count = 0
            for record in journal.replay():
                apply_record(self, record)
                count += 1
            journal.rewrite(snapshot_records(self))
            log.info("pubsub_journal_loaded", records=count, path=str(journal.path))

    # -- topics ---------------------------------------------------------------------------

    def create_topic(self, topic: Any) -> Any:
        """Create a topic; returns it.

        Raises:
            StatusError: INVALID_ARGUMENT (bad name), ALREADY_EXISTS.
        """
        config.validate_name(topic.name, "topics")
        with self._lock:
            if topic.name in self._topics:
                raise StatusError.already_exists(f"topic={topic.name}")
            stored = TopicPb()
            stored.CopyFrom(topic)
            self._add_topic(stored)
            self._write({"op": "topic", "pb": _b64(stored.SerializeToString())})
            self._flush()
            return stored

    def _add_topic(self, topic: Any) -> None:
        self._topics[topic.name] = topic
        self._topic_subs.setdefault(topic.name, set())

    def get_topic(self, name: str) -> Any:
        """The topic called ``name``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            topic = self._topics.get(name)
            if topic is None:
                raise StatusError.not_found(f"topic={name}")
            return topic

    def list_topics(
        self, project: str, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """Topics of ``projects/P``, sorted by name, and the next page token ('' at the end)."""
        with self._lock:
            prefix = f"{project}/topics/"
            names, token = _page(
                [n for n in self._topics if n.startswith(prefix)], page_size, page_token
            )
            return [self._topics[n] for n in names], token

    def delete_topic(self, name: str) -> None:
        """Delete a topic; its subscriptions stay, detached. Raises: StatusError NOT_FOUND."""
        with self._lock:
            if name not in self._topics:
                raise StatusError.not_found(f"topic={name}")
            self._remove_topic(name)
            self._write({"op": "deltopic", "name": name})
            self._flush()

    def _remove_topic(self, name: str) -> None:
        self._topics.pop(name, None)
        for sub_name in self._topic_subs.pop(name, set()):
            sub = self._subs.get(sub_name)
            if sub is not None:
                sub.config.topic = config.DELETED_TOPIC

    def list_topic_subscriptions(
        self, topic: str, *, page_size: int, page_token: str
    ) -> tuple[list[str], str]:
        """Names of the subscriptions attached to ``topic``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            if topic not in self._topics:
                raise StatusError.not_found(f"topic={topic}")
            return _page(list(self._topic_subs[topic]), page_size, page_token)

    # -- subscriptions --------------------------------------------------------------------

    def create_subscription(self, request: Any) -> Any:
        """Create a subscription (defaults filled in as Google does); returns it.

        Raises:
            StatusError: INVALID_ARGUMENT (name, ranges, filter), NOT_FOUND (topic or
                dead-letter topic), ALREADY_EXISTS.
        """
        sub_pb = config.normalize_subscription(request)
        with self._lock:
            if sub_pb.name in self._subs:
                raise StatusError.already_exists(f"subscription={sub_pb.name}")
            if sub_pb.topic not in self._topics:
                raise StatusError.not_found(f"topic={sub_pb.topic}")
            self._check_dead_letter_topic(sub_pb)
            self._add_subscription(sub_pb)
            self._write({"op": "sub", "pb": _b64(sub_pb.SerializeToString())})
            self._flush()
            return sub_pb

    def _check_dead_letter_topic(self, sub_pb: Any) -> None:
        if sub_pb.HasField("dead_letter_policy"):
            dlt = sub_pb.dead_letter_policy.dead_letter_topic
            if dlt not in self._topics:
                raise StatusError.not_found(f"dead_letter_topic={dlt}")

    def _add_subscription(self, sub_pb: Any) -> None:
        existing = self._subs.get(sub_pb.name)
        if existing is not None:
            existing.config = sub_pb
            existing.queue.policy = config.delivery_policy(sub_pb)
            existing.cond.notify_all()
            return
        self._subs[sub_pb.name] = _Subscription(
            name=sub_pb.name,
            config=sub_pb,
            filter=parse_filter(sub_pb.filter),
            queue=SubscriptionQueue(epoch=self._epoch, policy=config.delivery_policy(sub_pb)),
            cond=threading.Condition(self._lock),
        )
        self._topic_subs.setdefault(sub_pb.topic, set()).add(sub_pb.name)

    def _sub(self, name: str) -> _Subscription:
        sub = self._subs.get(name)
        if sub is None:
            raise StatusError.not_found(f"subscription={name}")
        return sub

    def get_subscription(self, name: str) -> Any:
        """The subscription called ``name``. Raises: StatusError NOT_FOUND."""
        with self._lock:
            return self._sub(name).config

    def list_subscriptions(
        self, project: str, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """Subscriptions of ``projects/P``, sorted by name, and the next page token."""
        with self._lock:
            prefix = f"{project}/subscriptions/"
            names, token = _page(
                [n for n in self._subs if n.startswith(prefix)], page_size, page_token
            )
            return [self._subs[n].config for n in names], token

    def update_subscription(self, update: Any, paths: Sequence[str]) -> Any:
        """Apply an UpdateSubscription; returns the new subscription.

        Raises:
            StatusError: NOT_FOUND, INVALID_ARGUMENT (immutable field such as ``filter``,
                empty mask, value out of range).
        """
        with self._lock:
            sub = self._sub(update.name)
            new_pb = config.apply_subscription_update(sub.config, update, list(paths))
            self._check_dead_letter_topic(new_pb)
            self._add_subscription(new_pb)
            self._write({"op": "sub", "pb": _b64(new_pb.SerializeToString())})
            self._flush()
            return new_pb

    def delete_subscription(self, name: str) -> None:
        """Delete a subscription and its messages. Raises: StatusError NOT_FOUND."""
        with self._lock:
            self._sub(name)
            self._remove_subscription(name)
            self._write({"op": "delsub", "name": name})
            self._flush()

    def _remove_subscription(self, name: str) -> None:
        sub = self._subs.pop(name, None)
        if sub is None:
            return
        self._topic_subs.get(sub.config.topic, set()).discard(name)
        sub.queue.close()
        sub.cond.notify_all()

    # -- publishing -----------------------------------------------------------------------

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
            if topic not in self._topics:
                raise StatusError.not_found(f"topic={topic}")
            ids = [self._publish_one(topic, msg) for msg in messages]
            self._flush()
            return ids

    def _publish_one(self, topic: str, msg: OutgoingMessage) -> str:
        now_s = self._clock()
        number = self._next_number
        stored = self._store_message(number, topic, msg, now_s)
        holders = []
        for sub_name in sorted(self._topic_subs.get(topic, ())):
            sub = self._subs[sub_name]
            # Google auto-acks what a filter rejects: such messages never enter the queue.
            if sub.filter.matches(stored.attributes):
                sub.queue.add(stored)
                holders.append(sub_name)
                sub.cond.notify_all()
        self.published += 1
        self._write(
            {
                "op": "pub",
                "n": number,
                "topic": topic,
                "t": now_s,
                "data": _b64(msg.data),
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
        pb = PubsubMessagePb(
            data=msg.data,
            attributes=msg.attributes,
            message_id=str(number),
            ordering_key=msg.ordering_key,
        )
        pb.publish_time.FromNanoseconds(int(publish_time_s * 1e9))
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

    # -- receiving ------------------------------------------------------------------------

    def _received(self, sub: _Subscription, entries: list[Entry]) -> list[Any]:
        dead_letter = sub.config.HasField("dead_letter_policy")
        out = []
        for entry in entries:
            received = ReceivedMessagePb(
                ack_id=entry.ack_id, delivery_attempt=entry.deliveries if dead_letter else 0
            )
            received.message.CopyFrom(entry.message.pb)
            out.append(received)
        self._write({"op": "dlv", "sub": sub.name, "n": [e.message.number for e in entries]})
        self._flush()
        return out

    def pull(self, name: str, *, max_messages: int, wait_s: float) -> list[Any]:
        """Unary Pull: lease up to ``max_messages``, waiting up to ``wait_s`` for the first.

        Raises:
            StatusError: NOT_FOUND, INVALID_ARGUMENT (``max_messages`` < 1).
        """
        if max_messages < 1:
            raise StatusError.invalid_argument("max_messages must be positive.")
        deadline = time.monotonic() + wait_s
        with self._lock:
            while True:
                sub = self._sub(name)
                entries = sub.queue.take(
                    now_s=self._clock(),
                    ack_deadline_s=float(sub.config.ack_deadline_seconds),
                    stream=None,
                    max_messages=max_messages,
                )
                if entries:
                    return self._received(sub, entries)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    return []
                sub.cond.wait(remaining)

    def open_stream(
        self,
        name: str,
        *,
        client_id: str,
        ack_deadline_s: float,
        max_messages: int,
        max_bytes: int,
    ) -> StreamState:
        """Register a StreamingPull stream. Raises: StatusError NOT_FOUND."""
        with self._lock:
            sub = self._sub(name)
            stream = StreamState(
                stream_id=next(self._stream_ids),
                subscription=name,
                client_id=client_id,
                max_messages=max(max_messages, 0),
                max_bytes=max(max_bytes, 0),
                ack_deadline_s=ack_deadline_s,
            )
            sub.streams[stream.stream_id] = stream
            return stream

    def subscription_properties(self, name: str) -> tuple[bool, bool]:
        """``(exactly_once_delivery_enabled, message_ordering_enabled)`` of a subscription."""
        with self._lock:
            sub = self._sub(name)
            return sub.config.enable_exactly_once_delivery, sub.config.enable_message_ordering

    def next_batch(self, stream: StreamState, *, timeout_s: float) -> list[Any] | None:
        """Messages for a stream, within its flow control; ``[]`` after ``timeout_s`` with
        nothing to send, ``None`` once the stream is closed or the server stops.

        Raises:
            StatusError: NOT_FOUND when the subscription was deleted.
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if not stream.open or self._stopping:
                    return None
                sub = self._subs.get(stream.subscription)
                if sub is None or stream.stream_id not in sub.streams:
                    raise StatusError.not_found(f"subscription={stream.subscription}")
                if sub.queue.has_ready():
                    entries = sub.queue.take(
                        now_s=self._clock(),
                        ack_deadline_s=stream.ack_deadline_s,
                        stream=stream,
                        max_messages=1000,
                    )
                    if entries:
                        return self._received(sub, entries)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                sub.cond.wait(remaining)

    def close_stream(self, stream: StreamState) -> None:
        """Forget a stream; its leases run until their deadlines (the client may still ack)."""
        with self._lock:
            stream.open = False
            sub = self._subs.get(stream.subscription)
            if sub is not None and sub.streams.pop(stream.stream_id, None) is not None:
                sub.closed_streams.append(stream)
                sub.cond.notify_all()

    def wake_stream(self, stream: StreamState) -> None:
        """Wake a stream's waiting sender (the client went away, or settings changed)."""
        with self._lock:
            sub = self._subs.get(stream.subscription)
            if sub is not None:
                sub.cond.notify_all()

    def acknowledge(self, name: str, ack_ids: Sequence[str]) -> None:
        """Acknowledge messages (unknown or stale ack ids are ignored, as on Google).

        Raises:
            StatusError: NOT_FOUND.
        """
        with self._lock:
            sub = self._sub(name)
            done = sub.queue.ack(ack_ids)
            if done:
                self._write({"op": "ack", "sub": name, "n": [e.message.number for e in done]})
                self._flush()
            sub.cond.notify_all()

    def modify_ack_deadline(self, name: str, ack_ids: Sequence[str], seconds: int) -> None:
        """Extend leases, or nack them with ``seconds == 0``.

        Raises:
            StatusError: NOT_FOUND, INVALID_ARGUMENT (``seconds`` outside 0..600).
        """
        if not 0 <= seconds <= config.MAX_ACK_DEADLINE_S:
            raise StatusError.invalid_argument(
                f"Invalid ack deadline given: {seconds} (must be between 0 and 600)."
            )
        with self._lock:
            sub = self._sub(name)
            exhausted = sub.queue.modify(ack_ids, float(seconds), now_s=self._clock())
            self._dead_letter(sub, exhausted)
            self._flush()
            sub.cond.notify_all()

    def _dead_letter(self, sub: _Subscription, entries: list[Entry]) -> None:
        if not entries:
            return
        policy = sub.config.dead_letter_policy
        topic = policy.dead_letter_topic
        if topic not in self._topics:
            log.warning("pubsub_dead_letter_topic_missing", subscription=sub.name, topic=topic)
            for entry in entries:
                sub.queue.requeue(entry)
            return
        project = sub.name.split("/")[1]
        for entry in entries:
            msg = entry.message
            published = msg.pb.publish_time.ToJsonString()
            attributes = dict(msg.attributes)
            attributes.update(
                {
                    "CloudPubSubDeadLetterSourceDeliveryCount": str(entry.deliveries),
                    "CloudPubSubDeadLetterSourceSubscription": sub.name.rsplit("/", 1)[-1],
                    "CloudPubSubDeadLetterSourceSubscriptionProject": project,
                    "CloudPubSubDeadLetterSourceTopicPublishTime": published,
                }
            )
            self._publish_one(topic, OutgoingMessage(msg.data, attributes, msg.ordering_key))
            sub.queue.finish(entry)
            self.dead_lettered += 1
        self._write({"op": "ack", "sub": sub.name, "n": [e.message.number for e in entries]})

    # -- timers and lifecycle -------------------------------------------------------------

    def tick(self) -> None:
        """Expire leases, end backoffs, apply retention and dead-lettering, as of now."""
        with self._lock:
            now_s = self._clock()
            for sub in list(self._subs.values()):
                result = sub.queue.tick(now_s)
                self._dead_letter(sub, result.exhausted)
                if result.dropped:
                    numbers = [e.message.number for e in result.dropped]
                    self._write({"op": "ack", "sub": sub.name, "n": numbers})
                if result.woke or result.exhausted or result.dropped:
                    sub.cond.notify_all()
            self._flush()

    def start(self) -> None:
        """Start the timer thread."""
        if self._timer is None:
            self._timer = threading.Thread(target=self._run_timer, name="pubsub-timer", daemon=True)
            self._timer.start()

    def _run_timer(self) -> None:
        while not self._timer_stop.wait(TICK_INTERVAL_S):
            try:
                self.tick()
            except Exception:
                log.exception("pubsub_tick_failed")

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: streams end and ask clients to reconnect."""
        return self._stopping

    def stop(self) -> None:
        """End every stream's and pull's wait; call before stopping the gRPC server."""
        with self._lock:
            self._stopping = True
            for sub in self._subs.values():
                sub.cond.notify_all()

    def close(self) -> None:
        """Stop the timer thread and close the journal (after the gRPC server stopped)."""
        self.stop()
        self._timer_stop.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
        with self._lock:
            if self._journal is not None:
                self._journal.close()

    def iter_subscriptions(self) -> Iterator[tuple[str, Any, SubscriptionQueue]]:
        """``(name, config, queue)`` of every subscription (call under :attr:`lock`)."""
        for sub in self._subs.values():
            yield sub.name, sub.config, sub.queue

    @property
    def lock(self) -> threading.RLock:
        """The broker's lock (for persistence helpers that read several structures at once)."""
        return self._lock

    def stats(self) -> dict[str, Any]:
        """Counters per subscription and stream, for the admin endpoint and tests."""
        with self._lock:
            subs = {}
            for sub in self._subs.values():
                subs[sub.name] = {
                    **sub.queue.stats(),
                    "streams": [s.to_dict() for s in sub.streams.values()],
                    "closed_streams": [s.to_dict() for s in sub.closed_streams],
                }
            return {
                "topics": sorted(self._topics),
                "published": self.published,
                "dead_lettered": self.dead_lettered,
                "subscriptions": subs,
            }
