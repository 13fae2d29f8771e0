"""Replay journal records into a :class:`Broker`, and write its live state back as records.

Kept apart from the broker so that the record format lives in one place: each ``op`` written
by the broker (see :mod:`vbq_emulators.pubsub.journal`) is applied here, and
:func:`snapshot_records` emits the same ops for compaction. While replaying, every message read
is remembered by number (``broker._replay_messages``) so that later records (snapshots, seeks)
can name messages that no subscription holds any more.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vbq_emulators.pubsub.config import SubscriptionPb, TopicPb
from vbq_emulators.pubsub.model import StoredMessage
from vbq_emulators.pubsub.schema_registry import SchemaPb
from vbq_emulators.pubsub.snapshots import SnapshotPb
from vbq_emulators.pubsub.state import SnapshotRecord
from vbq_emulators.pubsub.status import StatusError

if TYPE_CHECKING:
    from vbq_emulators.pubsub.broker import Broker

__all__ = ["apply_record", "snapshot_records"]


def _pb(record: dict[str, Any], cls: Any) -> Any:
    return cls.FromString(base64.b64decode(record["pb"]))


def _b64(pb: Any) -> str:
    return base64.b64encode(pb.SerializeToString()).decode()


def _messages(broker: Broker, numbers: list[int]) -> list[StoredMessage]:
    known = broker._replay_messages or {}
    return [known[int(n)] for n in numbers if int(n) in known]


def _apply_pub(broker: Broker, record: dict[str, Any]) -> None:
    from vbq_emulators.pubsub.broker import OutgoingMessage

    msg = OutgoingMessage(
        base64.b64decode(record["data"]), dict(record["attrs"]), record.get("key", "")
    )
    stored = broker._store_message(int(record["n"]), record["topic"], msg, float(record["t"]))
    if broker._replay_messages is not None:
        broker._replay_messages[stored.number] = stored
    broker._fanout(stored)
    deliveries = record.get("dlv", {})
    for name in record["subs"]:
        sub = broker._subs.get(name)
        if sub is not None:
            sub.queue.add(stored, deliveries=int(deliveries.get(name, 0)))
    for name in record.get("kept", ()):
        sub = broker._subs.get(name)
        if sub is not None:
            sub.queue.retained.add(stored)


def _apply_snapshot(broker: Broker, record: dict[str, Any]) -> None:
    pb = _pb(record, SnapshotPb)
    held = {m.number: m for m in _messages(broker, record["held"])}
    expire_s = float(pb.expire_time.seconds) + float(pb.expire_time.nanos) / 1e9
    existing = broker._snapshots.get(pb.name)
    if existing is not None:  # an UpdateSnapshot
        existing.pb, existing.expire_s = pb, expire_s
        return
    broker._add_snapshot(SnapshotRecord(pb, held, int(record["after"]), expire_s))


def _apply_ack(broker: Broker, record: dict[str, Any], op: str) -> None:
    sub = broker._subs.get(record["sub"])
    if sub is None:
        return
    for number in record["n"]:
        entry = sub.queue.live.get(int(number))
        if entry is None:
            continue
        if op == "ack":
            sub.queue.retire(entry)
        else:
            entry.deliveries += 1


def apply_record(broker: Broker, record: dict[str, Any]) -> None:
    """Apply one journal record to ``broker`` without journaling it again (caller holds the
    lock). Unknown ops and records for resources that no longer exist are skipped."""
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
        _apply_pub(broker, record)
    elif op == "seq":
        broker._next_number = max(broker._next_number, int(record["next"]))
    elif op in {"ack", "dlv"}:
        _apply_ack(broker, record, op)
    elif op == "snap":
        _apply_snapshot(broker, record)
    elif op == "delsnap":
        broker._remove_snapshot(record["name"])
    elif op == "seek":
        sub = broker._subs.get(record["sub"])
        if sub is not None:
            sub.queue.reset(_messages(broker, record["live"]), _messages(broker, record["kept"]))
    elif op == "schema":
        broker.schemas.add(_pb(record, SchemaPb))
    elif op == "delschemarev":
        try:
            broker.schemas.remove_revision(record["name"], record["rev"])
        except StatusError:
            pass
    elif op == "delschema":
        broker._remove_schema(record["name"])


def snapshot_records(broker: Broker) -> Iterator[dict[str, Any]]:
    """The broker's live state as journal records (caller holds the lock)."""
    # Message ids must never repeat, even when every message was acked before a restart.
    yield {"op": "seq", "next": broker._next_number}
    for schema in broker.schemas.schemas.values():
        for revision in schema.revisions:
            yield {"op": "schema", "pb": _b64(revision.pb)}
    for topic in broker._topics.values():
        yield {"op": "topic", "pb": _b64(topic)}
    messages: dict[int, tuple[StoredMessage, dict[str, int], list[str]]] = {}

    def hold(message: StoredMessage) -> tuple[StoredMessage, dict[str, int], list[str]]:
        return messages.setdefault(message.number, (message, {}, []))

    for name, sub_pb, queue in broker.iter_subscriptions():
        yield {"op": "sub", "pb": _b64(sub_pb)}
        for entry in queue.live.values():
            hold(entry.message)[1][name] = entry.deliveries
        for message in queue.retained.values():
            hold(message)[2].append(name)
    for log in broker._topic_logs.values():
        for message in log.values():
            hold(message)
    for snapshot in broker._snapshots.values():
        for message in snapshot.messages.values():
            hold(message)
    for number in sorted(messages):
        stored, holders, kept = messages[number]
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
            "kept": sorted(kept),
        }
    for snapshot in broker._snapshots.values():
        yield {
            "op": "snap",
            "pb": _b64(snapshot.pb),
            "held": sorted(snapshot.messages),
            "after": snapshot.after,
        }
