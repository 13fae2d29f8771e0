"""Receiving: unary Pull, StreamingPull batches, acks, deadlines and dead-lettering."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from google.pubsub_v1 import types

from vbq.logs import get_logger
from vbq_emulators.pubsub import config
from vbq_emulators.pubsub.model import Entry, StreamState
from vbq_emulators.pubsub.state import BrokerState, OutgoingMessage, SubscriptionRecord
from vbq_emulators.pubsub.status import StatusError

__all__ = ["DeliveryOps"]

log = get_logger(__name__)

ReceivedMessagePb: Any = types.ReceivedMessage.pb()


class DeliveryOps(BrokerState):
    """The message half of the Subscriber service."""

    def _received(self, sub: SubscriptionRecord, entries: list[Entry]) -> list[Any]:
        dead_letter = sub.config.HasField("dead_letter_policy")
        out = []
        for entry in entries:
            received = ReceivedMessagePb(
                ack_id=entry.ack_id, delivery_attempt=entry.deliveries if dead_letter else 0
            )
            received.message.CopyFrom(entry.message.pb)
            out.append(received)
        if self._journal is not None:
            self._write({"op": "dlv", "sub": sub.name, "n": [e.message.number for e in entries]})
            self._flush()
        return out

    def _pullable(self, name: str) -> SubscriptionRecord:
        sub = self._sub(name)
        if sub.config.detached:
            raise StatusError.failed_precondition(f"The subscription is detached ({name}).")
        return sub

    def take_push(self, name: str, stream: StreamState, max_messages: int) -> list[Any]:
        """Lease up to ``max_messages`` ready messages for a push stream (caller holds the
        lock); ``[]`` when none is ready. Raises: StatusError NOT_FOUND."""
        sub = self._sub(name)
        if max_messages <= 0 or not sub.queue.has_ready():
            return []
        entries = sub.queue.take(
            now_s=self._clock(),
            ack_deadline_s=float(sub.config.ack_deadline_seconds),
            stream=stream,
            max_messages=max_messages,
        )
        return self._received(sub, entries) if entries else []

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
                sub = self._pullable(name)
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
        peer: str = "",
    ) -> StreamState:
        """Register a StreamingPull stream. Raises: StatusError NOT_FOUND."""
        with self._lock:
            sub = self._pullable(name)
            now_s = self._clock()
            stream = StreamState(
                stream_id=next(self._stream_ids),
                subscription=name,
                client_id=client_id,
                max_messages=max(max_messages, 0),
                max_bytes=max(max_bytes, 0),
                ack_deadline_s=ack_deadline_s,
                peer=peer,
                opened_s=now_s,
                last_request_s=now_s,
            )
            sub.streams[stream.stream_id] = stream
        log.info(
            "pubsub_stream_opened",
            subscription=name,
            stream_id=stream.stream_id,
            client_id=client_id,
            peer=peer,
        )
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
                if sub.config.detached:
                    raise StatusError.failed_precondition(
                        f"The subscription is detached ({stream.subscription})."
                    )
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

    def close_stream(self, stream: StreamState, *, reason: str = "") -> None:
        """Forget a stream; its leases run until their deadlines (the client may still ack)."""
        with self._lock:
            stream.open = False
            sub = self._subs.get(stream.subscription)
            if sub is None or sub.streams.pop(stream.stream_id, None) is None:
                return
            sub.closed_streams.append(stream)
            sub.cond.notify_all()
        log.info(
            "pubsub_stream_closed",
            subscription=stream.subscription,
            stream_id=stream.stream_id,
            client_id=stream.client_id,
            reason=reason,
            outstanding=stream.outstanding_messages,
            delivered=stream.delivered,
        )

    def leases(self) -> list[dict[str, Any]]:
        """Every outstanding message of every subscription, for the admin endpoint.

        Each: ``subscription``, ``message_id``, ``ordering_key``, ``deliveries``, ``stream_id``
        (``None`` for a unary Pull), ``deadline_in_s`` (negative = overdue) and ``modacks``.
        """
        with self._lock:
            now_s = self._clock()
            out = []
            for sub in self._subs.values():
                for entry in sub.queue.leased():
                    out.append(
                        {
                            "subscription": sub.name,
                            "message_id": entry.message.message_id,
                            "ordering_key": entry.message.ordering_key,
                            "deliveries": entry.deliveries,
                            "stream_id": entry.stream.stream_id if entry.stream else None,
                            "deadline_in_s": round(entry.deadline_s - now_s, 3),
                            "modacks": entry.modacks,
                        }
                    )
            return out

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

    def _dead_letter(self, sub: SubscriptionRecord, entries: list[Entry]) -> None:
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
        touched: set[str] = set()
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
            self._publish_one(
                topic, OutgoingMessage(msg.data, attributes, msg.ordering_key), touched
            )
            sub.queue.retire(entry)
            self.dead_lettered += 1
        for name in touched:
            self._subs[name].cond.notify_all()
        self._write({"op": "ack", "sub": sub.name, "n": [e.message.number for e in entries]})
