"""Broker semantics and journal replay, in process (the gRPC layer is tested in integration)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.pubsub_v1 import types
from vbq_emulators.pubsub import Broker, OutgoingMessage, StatusError

TOPIC = "projects/p/topics/events"
DLQ = "projects/p/topics/dead"
SUB = "projects/p/subscriptions/events-sub"
DLQ_SUB = "projects/p/subscriptions/dead-sub"


def make(broker: Broker, **sub_fields: object) -> None:
    broker.create_topic(types.Topic.pb()(name=TOPIC))
    broker.create_topic(types.Topic.pb()(name=DLQ))
    broker.create_subscription(types.Subscription.pb()(name=SUB, topic=TOPIC, **sub_fields))
    broker.create_subscription(types.Subscription.pb()(name=DLQ_SUB, topic=DLQ))


def code(err: pytest.ExceptionInfo[StatusError]) -> grpc.StatusCode:
    return err.value.code


def test_status_codes() -> None:
    broker = Broker()
    make(broker)
    with pytest.raises(StatusError) as err:
        broker.create_topic(types.Topic.pb()(name=TOPIC))
    assert code(err) is grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(StatusError) as err:
        broker.publish("projects/p/topics/nope", [OutgoingMessage(b"x", {})])
    assert code(err) is grpc.StatusCode.NOT_FOUND
    with pytest.raises(StatusError) as err:
        broker.publish(TOPIC, [OutgoingMessage(b"", {})])
    assert code(err) is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(StatusError) as err:
        broker.create_subscription(
            types.Subscription.pb()(name=SUB + "2", topic=TOPIC, filter="attributes.x =")
        )
    assert code(err) is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(StatusError) as err:
        broker.modify_ack_deadline(SUB, ["x"], 601)
    assert code(err) is grpc.StatusCode.INVALID_ARGUMENT


def test_update_refuses_filter_and_applies_ack_deadline() -> None:
    broker = Broker()
    make(broker)
    update = types.Subscription.pb()(name=SUB, ack_deadline_seconds=42, filter="attributes:x")
    with pytest.raises(StatusError) as err:
        broker.update_subscription(update, ["filter"])
    assert code(err) is grpc.StatusCode.INVALID_ARGUMENT
    assert broker.update_subscription(update, ["ack_deadline_seconds"]).ack_deadline_seconds == 42
    assert broker.get_subscription(SUB).filter == ""


def test_dead_letter_forwarding_keeps_payload_and_adds_source_attributes() -> None:
    broker = Broker()
    policy = types.DeadLetterPolicy.pb()(dead_letter_topic=DLQ, max_delivery_attempts=5)
    make(broker, dead_letter_policy=policy)
    (msg_id,) = broker.publish(TOPIC, [OutgoingMessage(b"payload", {"k": "v"}, "key")])
    attempts = []
    for _ in range(5):
        (received,) = broker.pull(SUB, max_messages=10, wait_s=0)
        attempts.append(received.delivery_attempt)
        broker.modify_ack_deadline(SUB, [received.ack_id], 0)
    assert attempts == [1, 2, 3, 4, 5]
    assert broker.pull(SUB, max_messages=10, wait_s=0) == []
    (dead,) = broker.pull(DLQ_SUB, max_messages=10, wait_s=0)
    assert dead.message.data == b"payload"
    assert dead.message.ordering_key == "key"
    attrs = dict(dead.message.attributes)
    assert attrs["k"] == "v"
    assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attrs["CloudPubSubDeadLetterSourceSubscription"] == "events-sub"
    assert attrs["CloudPubSubDeadLetterSourceSubscriptionProject"] == "p"
    assert dead.message.message_id != msg_id
    assert dead.delivery_attempt == 0  # the DLQ subscription has no dead-letter policy


def test_journal_replay_keeps_unacked_messages_counts_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "pubsub.journal"
    policy = types.DeadLetterPolicy.pb()(dead_letter_topic=DLQ, max_delivery_attempts=10)
    first = Broker(journal_path=path)
    make(first, dead_letter_policy=policy, enable_message_ordering=True)
    ids = first.publish(TOPIC, [OutgoingMessage(f"m{i}".encode(), {}, "k") for i in range(3)])
    (m0,) = first.pull(SUB, max_messages=10, wait_s=0)
    first.acknowledge(SUB, [m0.ack_id])
    (m1,) = first.pull(SUB, max_messages=10, wait_s=0)
    first.modify_ack_deadline(SUB, [m1.ack_id], 0)
    # No close(): the process "dies" here; every call above already flushed its records.
    second = Broker(journal_path=path)
    (again,) = second.pull(SUB, max_messages=10, wait_s=0)
    assert again.message.message_id == ids[1]
    assert again.delivery_attempt == 2  # one delivery before the crash, one now
    second.acknowledge(SUB, [again.ack_id])
    (last,) = second.pull(SUB, max_messages=10, wait_s=0)
    assert last.message.data == b"m2"
    (new_id,) = second.publish(TOPIC, [OutgoingMessage(b"n", {})])
    assert int(new_id) > int(ids[-1])
    second.close()
    third = Broker(journal_path=path)
    assert {s["backlog"] for s in [third.stats()["subscriptions"][SUB]]} == {2}
    third.close()


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "pubsub.journal"
    first = Broker(journal_path=path)
    make(first)
    first.publish(TOPIC, [OutgoingMessage(b"kept", {})])
    with path.open("a") as handle:
        handle.write('{"op": "pub", "n": 99, "topi')
    second = Broker(journal_path=path)
    (received,) = second.pull(SUB, max_messages=10, wait_s=0)
    assert received.message.data == b"kept"


def test_journal_is_compacted_once_acked_records_dominate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vbq_emulators.pubsub import broker as broker_module

    monkeypatch.setattr(broker_module, "COMPACT_MIN_RECORDS", 50)
    path = tmp_path / "pubsub.journal"
    live = Broker(journal_path=path)
    make(live)
    live.publish(TOPIC, [OutgoingMessage(f"m{i}".encode(), {}) for i in range(60)])
    received = live.pull(SUB, max_messages=100, wait_s=0)
    live.acknowledge(SUB, [r.ack_id for r in received[:-1]])  # keep the last one unacked
    grown = len(path.read_text().splitlines())
    live.tick()
    compacted = len(path.read_text().splitlines())
    assert grown > 60 and compacted < 10
    live.publish(TOPIC, [OutgoingMessage(b"after", {})])  # appends keep working
    reborn = Broker(journal_path=path)
    data = sorted(r.message.data for r in reborn.pull(SUB, max_messages=100, wait_s=0))
    assert data == [b"after", b"m59"]
