"""Snapshots and Seek (to a snapshot and to a time), with Google's own SubscriberClient."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.protobuf import timestamp_pb2

from tests.integration.pubsub_emulator.helpers import PROJECT, names, publisher
from tests.support.pubsub import PubSubEmulator

pytestmark = pytest.mark.integration


def _pull_all(subscriber: pubsub_v1.SubscriberClient, sub: str, *, ack: bool) -> list[bytes]:
    out: list[bytes] = []
    while True:
        response = subscriber.pull(
            request={"subscription": sub, "max_messages": 100, "return_immediately": True},
            timeout=10,
        )
        if not response.received_messages:
            return sorted(out)
        out += [m.message.data for m in response.received_messages]
        if ack:
            ack_ids = [m.ack_id for m in response.received_messages]
            subscriber.acknowledge(request={"subscription": sub, "ack_ids": ack_ids})
        else:
            return sorted(out)


def _timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def test_seek_to_a_time_redelivers_retained_acked_messages(shared_pubsub_host: str) -> None:
    topic, sub = names("seektime")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(
        request={"name": sub, "topic": topic, "retain_acked_messages": True}
    )
    pub.publish(topic, b"before").result(timeout=10)
    time.sleep(0.05)
    boundary = datetime.now(UTC)
    time.sleep(0.05)
    for data in (b"after-1", b"after-2"):
        pub.publish(topic, data).result(timeout=10)
    assert _pull_all(subscriber, sub, ack=True) == [b"after-1", b"after-2", b"before"]

    subscriber.seek(request={"subscription": sub, "time": _timestamp(boundary)})
    assert _pull_all(subscriber, sub, ack=True) == [b"after-1", b"after-2"]

    # Seek far back brings everything back; seek to the future purges the backlog.
    subscriber.seek(request={"subscription": sub, "time": _timestamp(boundary - timedelta(1))})
    subscriber.seek(request={"subscription": sub, "time": _timestamp(boundary - timedelta(1))})
    assert _pull_all(subscriber, sub, ack=False) != []
    subscriber.seek(request={"subscription": sub, "time": _timestamp(datetime.now(UTC))})
    assert _pull_all(subscriber, sub, ack=True) == []


def test_seek_to_a_time_without_retained_acks_only_purges(shared_pubsub_host: str) -> None:
    topic, sub = names("seekplain")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    pub.publish(topic, b"acked").result(timeout=10)
    assert _pull_all(subscriber, sub, ack=True) == [b"acked"]
    pub.publish(topic, b"pending").result(timeout=10)
    subscriber.seek(
        request={"subscription": sub, "time": _timestamp(datetime(2000, 1, 1, tzinfo=UTC))}
    )
    assert _pull_all(subscriber, sub, ack=True) == [b"pending"]  # the acked one is gone


def test_topic_retention_lets_a_new_subscription_seek_back(shared_pubsub_host: str) -> None:
    topic, sub = names("topicret")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(request={"name": topic, "message_retention_duration": {"seconds": 3600}})
    pub.publish(topic, b"old news").result(timeout=10)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    retention = subscriber.get_subscription(subscription=sub).topic_message_retention_duration
    assert retention.seconds == 3600  # type: ignore[attr-defined]
    assert _pull_all(subscriber, sub, ack=True) == []
    subscriber.seek(
        request={"subscription": sub, "time": _timestamp(datetime(2000, 1, 1, tzinfo=UTC))}
    )
    assert _pull_all(subscriber, sub, ack=True) == [b"old news"]


def test_snapshot_lifecycle_and_seek_to_snapshot(shared_pubsub_host: str) -> None:
    topic, sub = names("snap")
    other_topic, other_sub = names("snapother")
    snapshot = f"projects/{PROJECT}/snapshots/{sub.rsplit('/', 1)[-1]}-snap"
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    pub.create_topic(name=other_topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    subscriber.create_subscription(request={"name": other_sub, "topic": other_topic})
    pub.publish(topic, b"backlog").result(timeout=10)

    created = subscriber.create_snapshot(
        request={"name": snapshot, "subscription": sub, "labels": {"why": "test"}}
    )
    assert created.name == snapshot and created.topic == topic
    remaining = created.expire_time.timestamp() - time.time()  # type: ignore[attr-defined]
    assert 6.9 * 86400 < remaining <= 7 * 86400
    with pytest.raises(exceptions.AlreadyExists):
        subscriber.create_snapshot(request={"name": snapshot, "subscription": sub})
    with pytest.raises(exceptions.NotFound):
        subscriber.create_snapshot(
            request={"name": snapshot + "x", "subscription": sub + "-missing"}
        )
    assert subscriber.get_snapshot(snapshot=snapshot).labels == {"why": "test"}
    listed = [s.name for s in subscriber.list_snapshots(request={"project": f"projects/{PROJECT}"})]
    assert snapshot in listed
    assert list(pub.list_topic_snapshots(request={"topic": topic})) == [snapshot]
    updated = subscriber.update_snapshot(
        request={
            "snapshot": {"name": snapshot, "labels": {"why": "changed"}},
            "update_mask": {"paths": ["labels"]},
        }
    )
    assert updated.labels == {"why": "changed"}

    pub.publish(topic, b"after snapshot").result(timeout=10)
    assert _pull_all(subscriber, sub, ack=True) == [b"after snapshot", b"backlog"]
    subscriber.seek(request={"subscription": sub, "snapshot": snapshot})
    assert _pull_all(subscriber, sub, ack=True) == [b"after snapshot", b"backlog"]

    with pytest.raises(exceptions.InvalidArgument):
        subscriber.seek(request={"subscription": other_sub, "snapshot": snapshot})
    with pytest.raises(exceptions.NotFound):
        subscriber.seek(request={"subscription": sub, "snapshot": snapshot + "-missing"})
    subscriber.delete_snapshot(snapshot=snapshot)
    with pytest.raises(exceptions.NotFound):
        subscriber.get_snapshot(snapshot=snapshot)
    assert list(pub.list_topic_snapshots(request={"topic": topic})) == []


def test_snapshots_retained_acks_and_seeks_survive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = PubSubEmulator(tmp_path / "logs", data_file=tmp_path / "journal.jsonl").start()
    try:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
        topic, sub = names("durable")
        snapshot = f"projects/{PROJECT}/snapshots/durable-snap"
        pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
        pub.create_topic(name=topic)
        subscriber.create_subscription(
            request={"name": sub, "topic": topic, "retain_acked_messages": True}
        )
        pub.publish(topic, b"one").result(timeout=10)
        subscriber.create_snapshot(request={"name": snapshot, "subscription": sub})
        pub.publish(topic, b"two").result(timeout=10)
        assert _pull_all(subscriber, sub, ack=True) == [b"one", b"two"]

        emulator.restart(kill=True)
        assert subscriber.get_snapshot(snapshot=snapshot).topic == topic
        subscriber.seek(request={"subscription": sub, "snapshot": snapshot})
        emulator.restart(kill=True)
        assert _pull_all(subscriber, sub, ack=True) == [b"one", b"two"]
        emulator.restart(kill=False)  # compaction writes retained acks and snapshots back
        subscriber.seek(
            request={"subscription": sub, "time": _timestamp(datetime(2000, 1, 1, tzinfo=UTC))}
        )
        assert _pull_all(subscriber, sub, ack=True) == [b"one", b"two"]
    finally:
        emulator.stop()


def test_detach_subscription_and_update_topic(shared_pubsub_host: str) -> None:
    topic, sub = names("detach")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    pub.publish(topic, b"dropped").result(timeout=10)
    pub.detach_subscription(request={"subscription": sub})
    assert subscriber.get_subscription(subscription=sub).detached
    assert sub not in list(pub.list_topic_subscriptions(request={"topic": topic}))
    with pytest.raises(exceptions.FailedPrecondition):
        subscriber.pull(request={"subscription": sub, "max_messages": 1}, timeout=10)

    updated = pub.update_topic(
        request={
            "topic": {
                "name": topic,
                "labels": {"team": "vbq"},
                "message_retention_duration": {"seconds": 900},
            },
            "update_mask": {"paths": ["labels", "message_retention_duration"]},
        }
    )
    assert updated.labels == {"team": "vbq"}
    assert updated.message_retention_duration.seconds == 900  # type: ignore[attr-defined]
    with pytest.raises(exceptions.InvalidArgument):
        pub.update_topic(request={"topic": {"name": topic}, "update_mask": {"paths": ["name"]}})
    with pytest.raises(exceptions.InvalidArgument):
        pub.update_topic(
            request={
                "topic": {"name": topic, "message_retention_duration": {"seconds": 60}},
                "update_mask": {"paths": ["message_retention_duration"]},
            }
        )
