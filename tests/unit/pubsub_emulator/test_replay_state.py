"""Snapshots, Seek, retained acks, detach and their journal replay, in process with a fake clock."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.pubsub_v1 import types
from vbq_emulators.pubsub import Broker, OutgoingMessage, StatusError

TOPIC = "projects/p/topics/events"
SUB = "projects/p/subscriptions/events-sub"
SNAP = "projects/p/snapshots/snap"
DAY_S = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000_000.0

    def __call__(self) -> float:
        return self.now_s


def make(broker: Broker, **sub_fields: object) -> None:
    broker.create_topic(types.Topic.pb()(name=TOPIC))
    broker.create_subscription(types.Subscription.pb()(name=SUB, topic=TOPIC, **sub_fields))


def publish(broker: Broker, *datas: bytes, **attrs: str) -> None:
    broker.publish(TOPIC, [OutgoingMessage(d, dict(attrs)) for d in datas])


def drain(broker: Broker, *, ack: bool = True) -> list[bytes]:
    received = broker.pull(SUB, max_messages=100, wait_s=0)
    if ack and received:
        broker.acknowledge(SUB, [r.ack_id for r in received])
    return sorted(r.message.data for r in received)


def test_snapshot_expiry_follows_the_oldest_unacked_message() -> None:
    clock = Clock()
    broker = Broker(clock=clock)
    make(broker)
    publish(broker, b"old")
    clock.now_s += 3 * DAY_S
    snap = broker.create_snapshot(SNAP, SUB, {})
    assert snap.expire_time.seconds == int(clock.now_s + 4 * DAY_S)
    clock.now_s += 3.99 * DAY_S
    with pytest.raises(StatusError) as err:
        broker.create_snapshot(SNAP + "2", SUB, {})  # would expire within the hour
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
    broker.expire_snapshots(clock.now_s)
    assert broker.get_snapshot(SNAP).name == SNAP
    clock.now_s += 0.02 * DAY_S
    broker.expire_snapshots(clock.now_s)
    with pytest.raises(StatusError) as err:
        broker.get_snapshot(SNAP)
    assert err.value.code is grpc.StatusCode.NOT_FOUND


def test_seek_to_snapshot_restores_its_backlog_and_later_messages_only() -> None:
    broker = Broker(clock=Clock())
    make(broker)
    publish(broker, b"acked-before")
    assert drain(broker) == [b"acked-before"]
    publish(broker, b"backlog")
    broker.create_snapshot(SNAP, SUB, {})
    publish(broker, b"later")
    assert drain(broker) == [b"backlog", b"later"]
    broker.seek(SUB, time_s=None, snapshot=SNAP)
    assert drain(broker) == [b"backlog", b"later"]


def test_seek_respects_the_filter_and_ends_leases() -> None:
    broker = Broker(clock=Clock())
    make(broker, filter='attributes.kind = "keep"', retain_acked_messages=True)
    publish(broker, b"kept", kind="keep")
    publish(broker, b"filtered", kind="drop")
    leased = broker.pull(SUB, max_messages=10, wait_s=0)
    assert [r.message.data for r in leased] == [b"kept"]
    broker.seek(SUB, time_s=0.0, snapshot="")
    broker.acknowledge(SUB, [r.ack_id for r in leased])  # a stale ack id: ignored
    assert drain(broker) == [b"kept"]
    with pytest.raises(StatusError) as err:
        broker.seek(SUB, time_s=None, snapshot="")
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT


def test_retained_acks_expire_with_the_retention_window() -> None:
    clock = Clock()
    broker = Broker(clock=clock)
    make(broker, retain_acked_messages=True, message_retention_duration={"seconds": 600})
    publish(broker, b"x")
    assert drain(broker) == [b"x"]
    assert broker.stats()["subscriptions"][SUB]["retained_acked"] == 1
    clock.now_s += 601
    broker.tick()
    assert broker.stats()["subscriptions"][SUB]["retained_acked"] == 0
    broker.seek(SUB, time_s=0.0, snapshot="")
    assert drain(broker) == []


def test_journal_keeps_retained_acks_snapshots_schemas_and_detach(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    clock = Clock()
    broker = Broker(journal_path=journal, clock=clock)
    make(broker, retain_acked_messages=True)
    other = "projects/p/subscriptions/other"
    broker.create_subscription(types.Subscription.pb()(name=other, topic=TOPIC))
    schema = types.Schema.pb()(type_=2, definition='{"type": "string"}')
    broker.create_schema("projects/p", schema, "plain")
    publish(broker, b"one")
    broker.create_snapshot(SNAP, SUB, {"a": "b"})
    publish(broker, b"two")
    assert drain(broker) == [b"one", b"two"]
    broker.detach_subscription(other)
    broker.close()

    again = Broker(journal_path=journal, clock=clock)
    assert again.get_snapshot(SNAP).labels == {"a": "b"}
    assert again.get_subscription(other).detached
    assert again.get_schema("projects/p/schemas/plain", 0).definition == '{"type": "string"}'
    stats = again.stats()["subscriptions"][SUB]
    assert (stats["retained_acked"], stats["backlog"]) == (2, 0)
    again.seek(SUB, time_s=None, snapshot=SNAP)
    again.close()

    final = Broker(journal_path=journal, clock=clock)  # the compacted file, and the seek
    assert final.get_snapshot(SNAP).name == SNAP
    assert drain(final) == [b"one", b"two"]
    final.close()
