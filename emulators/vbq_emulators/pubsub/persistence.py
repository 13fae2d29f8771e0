"""Replay journal records into a :class:`Broker`, and write its live state back as records.

Kept apart from the broker so that the record format lives in one place: each ``op`` written
by the broker (see :mod:`vbq_emulators.pubsub.journal`) is applied here, and
:func:`snapshot_records` emits the same ops for compaction.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vbq_emulators.pubsub.config import SubscriptionPb, TopicPb
from vbq_emulators.pubsub.model import StoredMessage

if TYPE_CHECKING:
    from vbq_emulators.pubsub.broker import Broker

__all__ = ["apply_record", "snapshot_records"]


def _pb(record: dict[str, Any], cls: Any) -> Any:
    return cls.FromString(base64.b64decode(record["pb"]))


def apply_record(broker: Broker, record: dict[str, Any]) -> None:
    """Apply one journal record to ``broker`` without journaling it again (caller holds the
    lock). Unknown ops and records for resources that no longer exist are skipped."""
    from vbq_emulators.pubsub.broker import OutgoingMessage

    op = record.get("op")
    if op == "topic":
        broker._add_topic(_pb(record, TopicPb))
    elif op == "deltopic":
        broker._remove_topic(record["name"])
    elif op == "sub":
        broker._add_subscription(_pb(record, SubscriptionPb))
    elif op == "delsub":
        broker._remove_subscription(record["name"])
    elif op == "pub":
        msg = OutgoingMessage(
            base64.b64decode(record["data"]), dict(record["attrs"]), record.get("key", "")
        )
        stored = broker._store_message(int(record["n"]), record["topic"], msg, float(record["t"]))
        deliveries = record.get("dlv", {})
        for name in record["subs"]:
            sub = broker._subs.get(name)
            if sub is not None:
                sub.queue.add(stored, deliveries=int(deliveries.get(name, 0)))
    elif op == "seq":
        broker._next_number = max(broker._next_number, int(record["next"]))
    elif op in {"ack", "dlv"}:
        sub = broker._subs.get(record["sub"])
        if sub is None:
            return
        for number in record["n"]:
            entry = sub.queue.live.get(int(number))
            if entry is None:
                continue
            if op == "ack":
                sub.queue.finish(entry)
            else:
                entry.deliveries += 1


def snapshot_records(broker: Broker) -> Iterator[dict[str, Any]]:
    """The broker's live state as journal records (caller holds the lock)."""
    # Message ids must never repeat, even when every message was acked before a restart.
    yield {"op": "seq", "next": broker._next_number}
    for topic in broker._topics.values():
        yield {"op": "topic", "pb": base64.b64encode(topic.SerializeToString()).decode()}
    messages: dict[int, tuple[StoredMessage, dict[str, int]]] = {}
    for name, sub_pb, queue in broker.iter_subscriptions():
        yield {"op": "sub", "pb": base64.b64encode(sub_pb.SerializeToString()).decode()}
        for number, entry in queue.live.items():
            _, holders = messages.setdefault(number, (entry.message, {}))
            holders[name] = entry.deliveries
    for number in sorted(messages):
        stored, holders = messages[number]
        yield {
            "op": "pub",
            "n": number,
            "topic": stored.topic,
            "t": stored.publish_time_s,
            "data": base64.b64encode(stored.data).decode(),
            "attrs": stored.attributes,
            "key": stored.ordering_key,
            "subs": sorted(holders),
            "dlv": {name: n for name, n in holders.items() if n},
        }
