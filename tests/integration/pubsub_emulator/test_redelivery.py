"""Unacked messages come back after their ack deadline."""

from __future__ import annotations

import time

import pytest
from google.cloud import pubsub_v1

from tests.integration.pubsub_emulator.helpers import Collector, names, publisher

pytestmark = pytest.mark.integration


def _pull(subscriber: pubsub_v1.SubscriberClient, sub: str) -> list[object]:
    response = subscriber.pull(request={"subscription": sub, "max_messages": 10}, timeout=10)
    return list(response.received_messages)


def test_message_returns_after_its_deadline(shared_pubsub_host: str) -> None:
    topic, sub = names("redeliver")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    message_id = pub.publish(topic, b"late").result(timeout=10)
    (first,) = _pull(subscriber, sub)
    assert first.message.message_id == message_id
    leased_at = time.monotonic()
    # Shorten the lease to 1 s (the subscription's default is 10 s).
    subscriber.modify_ack_deadline(
        request={"subscription": sub, "ack_ids": [first.ack_id], "ack_deadline_seconds": 1}
    )
    quick = subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}, timeout=10
    )
    assert list(quick.received_messages) == []  # still leased
    again: list[object] = []
    while not again and time.monotonic() - leased_at < 15:
        again = _pull(subscriber, sub)
    waited = time.monotonic() - leased_at
    assert again, "message never came back"
    (second,) = again
    assert second.message.message_id == message_id
    assert second.ack_id != first.ack_id
    assert 0.9 <= waited < 10, waited
    subscriber.acknowledge(request={"subscription": sub, "ack_ids": [second.ack_id]})
    time.sleep(1.3)  # past the first lease's deadline too: nothing may come back now
    after = subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}, timeout=10
    )
    assert list(after.received_messages) == []


@pytest.mark.slow
def test_streaming_subscriber_gets_unacked_message_again(shared_pubsub_host: str) -> None:
    """Through the streaming client: it stops extending after max_lease_duration, the 10 s
    minimum deadline passes, and the message is delivered again (takes ~12 s)."""
    topic, sub = names("lease")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    pub.publish(topic, b"x").result(timeout=10)
    collector = Collector(action=lambda m: m.ack() if len(collector.messages) > 1 else None)
    streaming = subscriber.subscribe(
        sub, collector, flow_control=pubsub_v1.types.FlowControl(max_lease_duration=1)
    )
    try:
        assert collector.wait_for(lambda ms: len(ms) >= 2, timeout_s=40)
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
    first, second = collector.snapshot()[:2]
    assert first.message_id == second.message_id
