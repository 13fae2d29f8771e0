"""Server-side flow control: a stream never has more unacked messages than its client allows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import pubsub_v1
from google.pubsub_v1 import types

from tests.integration.pubsub_emulator.helpers import Collector, names, publisher
from tests.support.pubsub import PubSubEmulator

pytestmark = pytest.mark.integration


def _streams(emulator: PubSubEmulator, sub: str) -> list[dict[str, Any]]:
    stats = emulator.stats()["subscriptions"][sub]
    return [*stats["streams"], *stats["closed_streams"]]


def test_subscriber_client_max_messages_5(
    shared_pubsub_host: str, pubsub_emulator_session: PubSubEmulator
) -> None:
    topic, sub = names("flow")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    total = 60
    for i in range(total):
        pub.publish(topic, f"{i}".encode())
    pub.stop()

    def slow_ack(message: Any) -> None:
        time.sleep(0.02)
        message.ack()

    collector = Collector(action=slow_ack)
    streaming = subscriber.subscribe(
        sub, collector, flow_control=pubsub_v1.types.FlowControl(max_messages=5)
    )
    try:
        assert collector.wait_for(lambda ms: len(ms) >= total, timeout_s=30)
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
    streams = _streams(pubsub_emulator_session, sub)
    assert streams, "the emulator saw no stream"
    assert all(s["max_outstanding_messages"] == 5 for s in streams)
    peaks = [s["peak_outstanding_messages"] for s in streams]
    assert max(peaks) <= 5, peaks
    assert max(peaks) == 5, peaks  # the limit was actually reached, so the check means something
    assert sum(s["delivered"] for s in streams) >= total


def test_raw_stream_waits_for_acks(
    shared_pubsub_host: str, pubsub_emulator_session: PubSubEmulator
) -> None:
    """Without the client's own flow control in the way: 3 outstanding, then exactly 1 per ack."""
    topic, sub = names("rawflow")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    for i in range(10):
        pub.publish(topic, f"{i}".encode())
    pub.stop()

    def requests() -> Iterator[Any]:
        yield types.StreamingPullRequest(
            subscription=sub,
            stream_ack_deadline_seconds=60,
            client_id="raw",
            max_outstanding_messages=3,
        )
        time.sleep(30)  # keep the stream open; the test cancels it

    responses = subscriber.api.streaming_pull(requests=requests(), timeout=30)
    try:
        first = next(responses)
        assert len(first.received_messages) == 3
        subscriber.acknowledge(
            request={"subscription": sub, "ack_ids": [first.received_messages[0].ack_id]}
        )
        second = next(responses)
        assert len(second.received_messages) == 1
        assert second.subscription_properties.message_ordering_enabled is False
    finally:
        responses.cancel()
    (stream,) = [s for s in _streams(pubsub_emulator_session, sub) if s["client_id"] == "raw"]
    assert stream["peak_outstanding_messages"] == 3
